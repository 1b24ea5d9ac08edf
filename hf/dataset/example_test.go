package dataset_test

import (
	"fmt"
	"log"

	"github.com/nashmd/nashmd/hf/dataset"
)

func Example() {
	// testdata/conv holds data/train-00000-of-00002.parquet and data/train-00001-of-00002.parquet;
	// rows 4, 9 and 12 (0-based) are empty conversations.
	d, err := dataset.Open("testdata/conv", dataset.Options{Split: "train"})
	if err != nil {
		log.Fatal(err)
	}
	defer d.Close()
	tooLong := func(p dataset.Prompt) (bool, string) {
		return len(p.Messages) <= 8, "more than 8 messages"
	}
	rep, err := d.Filter(tooLong, dataset.Skip)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(rep)
	fmt.Println(d.Format(), d.Rows(), "rows,", d.Len(), "served")

	n := 0
	for it := d.Epoch(0, 42); it.Next(); {
		n++
	}
	fmt.Println(n, "prompts in epoch 0")
	// Output:
	// checked 24 prompts, rejected 3 (row numbers are 1-based across shards): empty prompt: 3 (rows 5, 10, 13)
	// conversational 24 rows, 21 served
	// 21 prompts in epoch 0
}
