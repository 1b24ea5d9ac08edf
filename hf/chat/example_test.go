package chat_test

import (
	"errors"
	"fmt"

	"github.com/nashmd/nashmd/hf/chat"
)

// The outputs below are transformers 4.46.3's apply_chat_template results
// for the same inputs.

func Example() {
	source := `{%- for m in messages %}
    {{- '<|im_start|>' + m.role + '\n' + m.content + eos_token + '\n' }}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|im_start|>assistant\n' }}
{%- endif %}
`
	tmpl, err := chat.New(source, map[string]string{"eos_token": "<|im_end|>"})
	if err != nil {
		fmt.Println(err)
		return
	}
	out, err := tmpl.Render([]chat.Message{
		{Role: "system", Content: "Be brief."},
		{Role: "user", Content: "Hi!"},
	}, true)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Print(out)
	// Output:
	// <|im_start|>system
	// Be brief.<|im_end|>
	// <|im_start|>user
	// Hi!<|im_end|>
	// <|im_start|>assistant
}

func ExampleLoad() {
	// Qwen2-0.5B-Instruct's template (see testdata/qwen2/PROVENANCE.md).
	tmpl, err := chat.Load("testdata/qwen2/tokenizer_config.json")
	if err != nil {
		fmt.Println(err)
		return
	}
	out, err := tmpl.Render([]chat.Message{{Role: "user", Content: "What is 2+2?"}}, true)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%q\n", out)
	// Output: "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n"
}

func ExampleRaiseError() {
	tmpl, err := chat.New(`{% for m in messages %}{% if m.role != 'user' %}`+
		`{{ raise_exception('Only user messages are supported') }}{% endif %}{{ m.content }}{% endfor %}`, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	_, err = tmpl.Render([]chat.Message{{Role: "system", Content: "x"}}, false)
	var re *chat.RaiseError
	if errors.As(err, &re) {
		fmt.Println(re.Message)
	}
	// Output: Only user messages are supported
}
