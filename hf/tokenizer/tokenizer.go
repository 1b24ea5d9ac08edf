// Package tokenizer encodes and decodes text with a Hugging Face tokenizer.json
// tokenizer, byte-level BPE (Qwen2/Qwen2.5/Qwen3, GPT-2, SmolLM2) or
// SentencePiece Unigram (DeBERTa-v3), giving the same ids and text as the Rust
// tokenizers library; it also reads SentencePiece spm.model files.
//
// The pipeline is the library's: added tokens are cut out of the raw text
// first (longest match first, honouring single_word, lstrip, rstrip and
// normalized); the pieces between them are normalised (NFC, NFD, Precompiled,
// Strip, Replace, Lowercase, Sequence), pre-tokenised (Split with a regular
// expression or a string, ByteLevel, Digits, Metaspace, Punctuation,
// WhitespaceSplit, Sequence) and split into tokens by the model (BPE or
// Unigram); a post-processor (TemplateProcessing, ByteLevel, Sequence) adds
// special tokens on request. Decoding runs the decoder chain (ByteLevel,
// ByteFallback, Fuse, Replace, Metaspace, Sequence); invalid UTF-8 becomes
// U+FFFD as Rust's String::from_utf8_lossy makes it. A component of another
// type makes Load fail with an *UnsupportedError naming it.
//
// The truncation and padding sections of tokenizer.json are ignored (as
// transformers ignores them unless asked), and only single sequences are
// encoded.
package tokenizer

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"unicode/utf8"
)

// A Tokenizer encodes text to token ids and decodes ids to text. It is safe
// for concurrent use.
type Tokenizer struct {
	normalizer normalizer    // nil: none
	pre        preTokenizer  // nil: none
	model      model         // never nil
	post       postProcessor // nil: none
	decoder    decoder       // nil: tokens joined with spaces

	added       map[int]AddedToken // by id, as the library keeps them
	addedIDs    map[string]int     // by content
	special     map[string]bool    // contents of special tokens
	rawAdded    *addedMatcher      // tokens matched before normalisation
	normAdded   *addedMatcher      // tokens matched after it
	distinctLen int                // distinct token strings, added ones included

	native *spmNative // non-nil: encode and decode as the sentencepiece library
}

// An AddedToken is a token of tokenizer.json's added_tokens: matched in the
// text before the model runs, and, when Special, dropped by Decode on request.
type AddedToken struct {
	ID         int
	Content    string
	Special    bool
	SingleWord bool // matches only when not inside a word
	LStrip     bool // takes the whitespace on its left
	RStrip     bool // takes the whitespace on its right
	Normalized bool // matched in the normalised text, not the raw text
}

// UnsupportedError reports a tokenizer.json component whose type this package
// does not implement.
type UnsupportedError struct {
	Component string // "normalizer", "pre_tokenizer", "model", "decoder" or "post_processor"
	Type      string // its "type" field, e.g. "WordPiece"
}

func (e *UnsupportedError) Error() string {
	return fmt.Sprintf("tokenizer: unsupported %s type %q", e.Component, e.Type)
}

// Load reads a tokenizer from path: a tokenizer.json file, a SentencePiece
// model file (named *.model, read by LoadSentencePiece with default options),
// or a directory holding tokenizer.json or, failing that, spm.model.
func Load(path string) (*Tokenizer, error) {
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		dir := path
		path = filepath.Join(dir, "tokenizer.json")
		if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			if spm := filepath.Join(dir, "spm.model"); fileExists(spm) {
				return LoadSentencePiece(spm, SentencePieceOptions{})
			}
		}
	} else if strings.HasSuffix(path, ".model") {
		return LoadSentencePiece(path, SentencePieceOptions{})
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	t, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %s: %w", path, err)
	}
	return t, nil
}

// Parse builds a tokenizer from the contents of a tokenizer.json file.
func Parse(data []byte) (*Tokenizer, error) {
	return parseFile(data)
}

// Encode returns the token ids of text. With addSpecialTokens the
// post-processor adds its special tokens (e.g. a BOS token), as
// encode(text, add_special_tokens=True) does in the tokenizers library.
// Invalid UTF-8 in text is first replaced with U+FFFD as
// String::from_utf8_lossy replaces it. The returned slice belongs to the
// caller. A tokenizer from ParseSentencePiece with Native set encodes as the
// sentencepiece library's EncodeAsIds instead, adding no special tokens.
func (t *Tokenizer) Encode(text string, addSpecialTokens bool) []int {
	if t.native != nil {
		return t.native.encode(text)
	}
	if !utf8.ValidString(text) {
		text = lossyUTF8([]byte(text))
	}
	var ids []int
	var words []string
	first := hasPrependFirst(t.pre)
	for i, p := range t.splitAdded(text, t.rawAdded, nil) {
		if p.id >= 0 {
			ids = append(ids, p.id)
			continue
		}
		// z: the leading bytes that come from offset 0 of text (for
		// Metaspace's prepend_scheme "first").
		z := 0
		if i == 0 && first {
			_, z = utf8.DecodeRuneInString(p.text)
		}
		s, z := t.normalizeAt(p.text, z)
		off := 0
		for _, q := range t.splitAdded(s, t.normAdded, nil) {
			qz := max(0, z-off)
			off += len(q.text)
			if q.id >= 0 {
				ids = append(ids, q.id)
				continue
			}
			words = append(words[:0], q.text)
			if t.pre != nil {
				words = t.preTokenizeAt(words, qz)
			}
			for _, w := range words {
				ids = t.model.tokenize(w, ids)
			}
		}
	}
	if addSpecialTokens && t.post != nil {
		ids = t.post.process(ids)
	}
	return ids
}

// Decode returns the text of ids, as the tokenizers library's decode does.
// Ids that name no token are skipped, and so are special tokens when
// skipSpecialTokens is set. Unlike transformers' decode it never applies
// clean_up_tokenization_spaces. A tokenizer from ParseSentencePiece with
// Native set decodes as the sentencepiece library's DecodeIds instead.
func (t *Tokenizer) Decode(ids []int, skipSpecialTokens bool) string {
	if t.native != nil {
		return t.native.decode(ids)
	}
	toks := make([]string, 0, len(ids))
	for _, id := range ids {
		tok, ok := t.IDToToken(id)
		if !ok || skipSpecialTokens && t.special[tok] {
			continue
		}
		toks = append(toks, tok)
	}
	if t.decoder == nil {
		return strings.Join(toks, " ")
	}
	return strings.Join(t.decoder.decodeChain(toks), "")
}

// TokenToID returns the id of a token (an added token's content, or a string of
// the model's vocabulary, e.g. "Ġthe" in byte-level form, "▁the" in
// SentencePiece form).
func (t *Tokenizer) TokenToID(token string) (int, bool) {
	if id, ok := t.addedIDs[token]; ok {
		return id, true
	}
	return t.model.tokenToID(token)
}

// IDToToken returns the token string of id, as TokenToID takes it.
func (t *Tokenizer) IDToToken(id int) (string, bool) {
	if a, ok := t.added[id]; ok {
		return a.Content, true
	}
	return t.model.token(id)
}

// VocabSize returns the number of distinct tokens, added tokens included
// (tokenizers' get_vocab_size(with_added_tokens=True), transformers'
// len(tokenizer)). The embedding matrix of a model may have more rows.
func (t *Tokenizer) VocabSize() int { return t.distinctLen }

// SpecialTokens returns the special added tokens in id order.
func (t *Tokenizer) SpecialTokens() []AddedToken {
	var out []AddedToken
	for _, a := range t.added {
		if t.special[a.Content] {
			out = append(out, a)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

func fileExists(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && !fi.IsDir()
}
