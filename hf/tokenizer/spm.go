package tokenizer

// SentencePiece model files (spm.model, a serialized ModelProto): a small
// protobuf reader, the tokenizer that transformers' DebertaV2TokenizerFast
// converts such a file into, and the sentencepiece library's own encoding and
// decoding.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// SentencePieceOptions says how ParseSentencePiece builds a tokenizer.
type SentencePieceOptions struct {
	// Native makes Encode and Decode behave as the sentencepiece library's
	// EncodeAsIds and DecodeIds (normalisation by the model's normalizer
	// spec, user-defined symbols matched inside the text, no special tokens
	// added). Otherwise the tokenizer is the one transformers'
	// DebertaV2TokenizerFast converts the file into (DebertaV2Converter).
	Native bool
	// LowerCase and SplitByPunct are DebertaV2TokenizerFast's do_lower_case
	// and split_by_punct; Native ignores them.
	LowerCase    bool
	SplitByPunct bool
}

// LoadSentencePiece reads a SentencePiece model file (spm.model) and builds a
// tokenizer from it as ParseSentencePiece does.
func LoadSentencePiece(path string, opts SentencePieceOptions) (*Tokenizer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	t, err := ParseSentencePiece(data, opts)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %s: %w", path, err)
	}
	return t, nil
}

// ParseSentencePiece builds a tokenizer from the contents of a SentencePiece
// model file (a serialized ModelProto) of a Unigram model.
//
// By default the result encodes and decodes as the tokenizer.json that
// transformers 4.46 writes for DebertaV2TokenizerFast(vocab_file=...) does:
// normalizers Strip, Precompiled (the model's precompiled_charsmap) and
// Replace(" {2,}" → " "), pre-tokenizer Metaspace (prepend always), control and
// user-defined pieces as added tokens, [CLS] $A [SEP] as post-processor. The
// model's add_dummy_prefix and remove_extra_whitespaces flags play no part
// there, as in the converter. With opts.Native it follows the sentencepiece
// library instead.
func ParseSentencePiece(data []byte, opts SentencePieceOptions) (*Tokenizer, error) {
	m, err := parseModelProto(data)
	if err != nil {
		return nil, err
	}
	if m.modelType != 1 {
		return nil, &UnsupportedError{"model", fmt.Sprintf("SentencePiece model_type %d (only Unigram, 1)", m.modelType)}
	}
	if opts.Native {
		return newNativeSPM(m)
	}
	return newConvertedSPM(m, opts)
}

// ----------------------------------------------------------------- ModelProto

type spmPiece struct {
	piece string
	score float32
	typ   uint8 // piece* constant
}

// spmModel is what this package reads of a ModelProto (sentencepiece_model.proto).
type spmModel struct {
	pieces []spmPiece // ModelProto.pieces (1)

	// TrainerSpec (2)
	modelType      int64  // 3, default UNIGRAM (1)
	unkID          int64  // 40, default 0
	byteFallback   bool   // 35
	unkSurface     string // 44, default " ⁇ "
	whitespaceSufx bool   // 24, treat_whitespace_as_suffix

	// NormalizerSpec (3)
	charsmap          []byte // 2, precompiled_charsmap
	addDummyPrefix    bool   // 3, default true
	removeExtraSpaces bool   // 4, default true
	escapeSpaces      bool   // 5, default true

	denormCharsmap []byte // denormalizer_spec (5).precompiled_charsmap
}

// A ProtoError reports a malformed SentencePiece model file.
type ProtoError struct {
	Offset int // byte offset in the message being read
	Msg    string
}

func (e *ProtoError) Error() string {
	return fmt.Sprintf("sentencepiece model: offset %d: %s", e.Offset, e.Msg)
}

// protoField is one field of a protobuf message: its number and wire type,
// and its value (varint, fixed32 or fixed64 in num; bytes for length-delimited).
type protoField struct {
	num   int
	wire  int
	num64 uint64
	bytes []byte
}

// protoFields reads the fields of a message in order.
func protoFields(b []byte, f func(protoField) error) error {
	for i := 0; i < len(b); {
		start := i
		key, n := binary.Uvarint(b[i:])
		if n <= 0 {
			return &ProtoError{start, "bad field key"}
		}
		i += n
		fl := protoField{num: int(key >> 3), wire: int(key & 7)}
		if key>>3 == 0 || key>>3 > 1<<29-1 {
			return &ProtoError{start, fmt.Sprintf("bad field number %d", key>>3)}
		}
		switch fl.wire {
		case 0:
			v, n := binary.Uvarint(b[i:])
			if n <= 0 {
				return &ProtoError{i, "bad varint"}
			}
			fl.num64, i = v, i+n
		case 1:
			if len(b)-i < 8 {
				return &ProtoError{i, "truncated fixed64"}
			}
			fl.num64, i = binary.LittleEndian.Uint64(b[i:]), i+8
		case 2:
			l, n := binary.Uvarint(b[i:])
			if n <= 0 || l > uint64(len(b)-i-n) {
				return &ProtoError{i, "bad length"}
			}
			i += n
			fl.bytes, i = b[i:i+int(l)], i+int(l)
		case 5:
			if len(b)-i < 4 {
				return &ProtoError{i, "truncated fixed32"}
			}
			fl.num64, i = uint64(binary.LittleEndian.Uint32(b[i:])), i+4
		default:
			return &ProtoError{start, fmt.Sprintf("unsupported wire type %d", fl.wire)}
		}
		if err := f(fl); err != nil {
			return err
		}
	}
	return nil
}

// want checks a field's wire type.
func (f protoField) want(wire int, name string) error {
	if f.wire != wire {
		return fmt.Errorf("sentencepiece model: field %s has wire type %d, want %d", name, f.wire, wire)
	}
	return nil
}

func protoString(f protoField, name string) (string, error) {
	if err := f.want(2, name); err != nil {
		return "", err
	}
	if !utf8.Valid(f.bytes) {
		return "", fmt.Errorf("sentencepiece model: %s is not valid UTF-8", name)
	}
	return string(f.bytes), nil
}

func parseModelProto(b []byte) (*spmModel, error) {
	if len(b) == 0 {
		return nil, errors.New("sentencepiece model: empty file")
	}
	m := &spmModel{modelType: 1, unkSurface: " \u2047 ", addDummyPrefix: true,
		removeExtraSpaces: true, escapeSpaces: true}
	err := protoFields(b, func(f protoField) error {
		switch f.num {
		case 1:
			if err := f.want(2, "pieces"); err != nil {
				return err
			}
			p := spmPiece{typ: pieceNormal}
			err := protoFields(f.bytes, func(g protoField) error {
				var err error
				switch g.num {
				case 1:
					p.piece, err = protoString(g, "piece")
				case 2:
					if err = g.want(5, "score"); err == nil {
						p.score = math.Float32frombits(uint32(g.num64))
					}
				case 3:
					if err = g.want(0, "type"); err == nil {
						if g.num64 < pieceNormal || g.num64 > pieceByte {
							err = fmt.Errorf("sentencepiece model: piece %d: unknown type %d", len(m.pieces), g.num64)
						}
						p.typ = uint8(g.num64)
					}
				}
				return err
			})
			m.pieces = append(m.pieces, p)
			return err
		case 2:
			if err := f.want(2, "trainer_spec"); err != nil {
				return err
			}
			return protoFields(f.bytes, func(g protoField) error {
				var err error
				switch g.num {
				case 3:
					if err = g.want(0, "model_type"); err == nil {
						m.modelType = int64(int32(g.num64))
					}
				case 40:
					if err = g.want(0, "unk_id"); err == nil {
						m.unkID = int64(int32(g.num64))
					}
				case 35:
					if err = g.want(0, "byte_fallback"); err == nil {
						m.byteFallback = g.num64 != 0
					}
				case 44:
					m.unkSurface, err = protoString(g, "unk_surface")
				case 24:
					if err = g.want(0, "treat_whitespace_as_suffix"); err == nil {
						m.whitespaceSufx = g.num64 != 0
					}
				}
				return err
			})
		case 3:
			if err := f.want(2, "normalizer_spec"); err != nil {
				return err
			}
			return protoFields(f.bytes, func(g protoField) error {
				var err error
				switch g.num {
				case 2:
					if err = g.want(2, "precompiled_charsmap"); err == nil {
						m.charsmap = g.bytes
					}
				case 3, 4, 5:
					if err = g.want(0, "normalizer_spec flag"); err == nil {
						v := g.num64 != 0
						switch g.num {
						case 3:
							m.addDummyPrefix = v
						case 4:
							m.removeExtraSpaces = v
						case 5:
							m.escapeSpaces = v
						}
					}
				}
				return err
			})
		case 5:
			if err := f.want(2, "denormalizer_spec"); err != nil {
				return err
			}
			return protoFields(f.bytes, func(g protoField) error {
				if g.num == 2 && g.wire == 2 {
					m.denormCharsmap = g.bytes
				}
				return nil
			})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(m.pieces) == 0 {
		return nil, errors.New("sentencepiece model: no pieces")
	}
	if len(m.pieces) >= maxVocabID {
		return nil, fmt.Errorf("sentencepiece model: %d pieces, more than %d", len(m.pieces), maxVocabID)
	}
	return m, nil
}

// ------------------------------------------- the converted (transformers) tokenizer

// debertaSpecials are DebertaV2TokenizerFast's special tokens in the order
// transformers adds the missing ones: bos, eos, unk, sep, pad, cls, mask,
// without repeats.
var debertaSpecials = []string{"[CLS]", "[SEP]", "[UNK]", "[PAD]", "[MASK]"}

// newConvertedSPM builds what DebertaV2Converter and PreTrainedTokenizerFast
// make of the model.
func newConvertedSPM(m *spmModel, opts SentencePieceOptions) (*Tokenizer, error) {
	pieces := make([]string, len(m.pieces))
	scores := make([]float64, len(m.pieces))
	for i, p := range m.pieces {
		pieces[i], scores[i] = p.piece, float64(p.score)
	}
	u, err := newUnigram(pieces, scores, int(m.unkID), false)
	if err != nil {
		return nil, fmt.Errorf("sentencepiece model: %w", err)
	}
	t := &Tokenizer{model: u}

	var norm sequenceNormalizer
	if opts.LowerCase {
		norm = append(norm, lowercaseNormalizer{})
	}
	norm = append(norm, stripNormalizer{left: true, right: true})
	if len(m.charsmap) > 0 {
		cm, err := parseCharsmap(m.charsmap)
		if err != nil {
			return nil, fmt.Errorf("sentencepiece model: %w", err)
		}
		norm = append(norm, precompiledNormalizer{cm})
	}
	spaces, err := compileRegex(" {2,}")
	if err != nil {
		return nil, err
	}
	t.normalizer = append(norm, &replaceNormalizer{pat: pattern{re: spaces}, content: " "})

	var pre sequencePre
	if opts.SplitByPunct {
		pre = append(pre, &charSplitPre{is: isPunctuation, behavior: isolated})
	}
	t.pre = append(pre, &metaspacePre{replacement: "▁", scheme: prependAlways, split: true})
	t.decoder = metaspaceDecoder{replacement: "▁", scheme: prependAlways}

	// The converter adds the control (special) and user-defined (not
	// special) pieces, unnormalised; transformers then adds the special
	// tokens it still lacks, [UNK] normalised (the slow tokenizer makes it so)
	// and the others not.
	var added []addedConfig
	have := map[string]bool{}
	for _, p := range m.pieces {
		if p.typ == pieceControl || p.typ == pieceUserDefined {
			added = append(added, addedConfig{Content: p.piece, Special: p.typ == pieceControl})
			have[p.piece] = true
		}
	}
	for _, s := range debertaSpecials {
		if !have[s] {
			added = append(added, addedConfig{Content: s, Special: true, Normalized: s == "[UNK]"})
		}
	}
	if err := t.addTokens(added); err != nil {
		return nil, err
	}
	cls, _ := t.TokenToID("[CLS]")
	sep, _ := t.TokenToID("[SEP]")
	t.post = &templatePost{before: []int{cls}, after: []int{sep}}
	return t, nil
}

// ------------------------------------------------ the sentencepiece library

// spmNative encodes and decodes as the sentencepiece library does.
type spmNative struct {
	model *unigram
	cm    *charsmap  // nil: no normalisation rules
	user  *pieceTrie // user-defined pieces, matched before the rules; nil: none

	addDummyPrefix    bool
	removeExtraSpaces bool
	escapeSpaces      bool
	unkSurface        string
}

// newNativeSPM checks the model as the library's ModelInterface does and
// builds its encoder.
func newNativeSPM(m *spmModel) (*Tokenizer, error) {
	if m.whitespaceSufx {
		return nil, errors.New("sentencepiece model: treat_whitespace_as_suffix is not supported")
	}
	if len(m.denormCharsmap) > 0 {
		return nil, errors.New("sentencepiece model: denormalizer rules are not supported")
	}
	pieces := make([]string, len(m.pieces))
	scores := make([]float64, len(m.pieces))
	unk := -1
	seen := make(map[string]bool, len(m.pieces))
	var user []string
	for i, p := range m.pieces {
		if p.piece == "" {
			return nil, fmt.Errorf("sentencepiece model: piece %d is empty", i)
		}
		if seen[p.piece] {
			return nil, fmt.Errorf("sentencepiece model: piece %q is defined twice", p.piece)
		}
		seen[p.piece] = true
		pieces[i], scores[i] = p.piece, float64(p.score)
		switch p.typ {
		case pieceUnknown:
			if unk >= 0 {
				return nil, errors.New("sentencepiece model: more than one unknown piece")
			}
			unk = i
		case pieceUserDefined:
			user = append(user, p.piece)
		case pieceByte:
			if !m.byteFallback {
				return nil, fmt.Errorf("sentencepiece model: byte piece %q without byte_fallback", p.piece)
			}
			if _, ok := pieceByteValue(p.piece); !ok {
				return nil, fmt.Errorf("sentencepiece model: bad byte piece %q", p.piece)
			}
		}
	}
	if unk < 0 {
		return nil, errors.New("sentencepiece model: no unknown piece")
	}
	u, err := newUnigram(pieces, scores, unk, false)
	if err != nil {
		return nil, fmt.Errorf("sentencepiece model: %w", err)
	}
	u.types = make([]uint8, len(m.pieces))
	u.scores32 = make([]float32, len(m.pieces))
	u.spmMin, u.spmMax = math.MaxFloat32, 0x1p-126 // FLT_MAX, FLT_MIN
	for i, p := range m.pieces {
		u.types[i], u.scores32[i] = p.typ, p.score
		if p.typ == pieceNormal {
			u.spmMin, u.spmMax = min(u.spmMin, p.score), max(u.spmMax, p.score)
		}
	}
	if m.byteFallback {
		var b [256]int
		for i := range b {
			id, ok := u.vocab[fmt.Sprintf("<0x%02X>", i)]
			if !ok || u.types[id] != pieceByte {
				return nil, fmt.Errorf("sentencepiece model: byte_fallback without the byte piece <0x%02X>", i)
			}
			b[i] = id
		}
		u.spmByteIDs = &b
	}
	n := &spmNative{model: u, addDummyPrefix: m.addDummyPrefix, removeExtraSpaces: m.removeExtraSpaces,
		escapeSpaces: m.escapeSpaces, unkSurface: m.unkSurface}
	if len(m.charsmap) > 0 {
		if n.cm, err = parseCharsmap(m.charsmap); err != nil {
			return nil, fmt.Errorf("sentencepiece model: %w", err)
		}
	}
	if len(user) > 0 {
		sort.Strings(user)
		tr := newPieceTrie(user, make([]int32, len(user)))
		n.user = &tr
	}
	t := &Tokenizer{model: u, native: n}
	var added []addedConfig
	for _, p := range m.pieces {
		if p.typ == pieceControl {
			added = append(added, addedConfig{Content: p.piece, Special: true})
		}
	}
	if err := t.addTokens(added); err != nil {
		return nil, err
	}
	return t, nil
}

// pieceByteValue reads a byte piece, <0xAB>.
func pieceByteValue(p string) (byte, bool) {
	if len(p) != 6 || !strings.HasPrefix(p, "<0x") || p[5] != '>' {
		return 0, false
	}
	v, err := strconv.ParseUint(p[3:5], 16, 8)
	return byte(v), err == nil
}

func (n *spmNative) encode(text string) []int {
	return n.model.spmEncode(n.normalize(text), nil)
}

// normalizePrefix is Normalizer::NormalizePrefix: the normalised form of the
// start of s and the number of bytes it consumed. A user-defined piece is
// kept as it is; otherwise the longest rule applies; otherwise one character
// is copied, or one invalid byte becomes U+FFFD.
func (n *spmNative) normalizePrefix(s string) (string, int) {
	if n.user != nil {
		k := 0
		n.user.prefixes(s, 0, func(end int, _ int32) { k = end })
		if k > 0 {
			return s[:k], k
		}
	}
	if n.cm != nil {
		if k, r := n.cm.longest(s); k > 0 {
			return r, k
		}
	}
	r, k := utf8.DecodeRuneInString(s)
	if r == utf8.RuneError && k == 1 {
		return "\uFFFD", 1
	}
	return s[:k], k
}

// normalize is Normalizer::Normalize without the offsets: the text as the
// model sees it, with ▁ for spaces.
func (n *spmNative) normalize(s string) string {
	if n.removeExtraSpaces {
		for s != "" {
			p, k := n.normalizePrefix(s)
			if p != " " {
				break
			}
			s = s[k:]
		}
	}
	if s == "" {
		return ""
	}
	space := " "
	if n.escapeSpaces {
		space = "▁"
	}
	var b strings.Builder
	b.Grow(len(s) * 3)
	if n.addDummyPrefix {
		b.WriteString(space)
	}
	prevSpace := n.removeExtraSpaces
	for s != "" {
		p, k := n.normalizePrefix(s)
		for prevSpace && strings.HasPrefix(p, " ") {
			p = p[1:]
		}
		if p != "" {
			b.WriteString(strings.ReplaceAll(p, " ", space))
			prevSpace = strings.HasSuffix(p, " ")
		}
		s = s[k:]
		if !n.removeExtraSpaces {
			prevSpace = false
		}
	}
	out := b.String()
	if n.removeExtraSpaces {
		for strings.HasSuffix(out, space) {
			out = out[:len(out)-len(space)]
		}
	}
	return out
}

// decode is SentencePieceProcessor::Decode of ids: control pieces vanish, the
// unknown piece reads as the model's unk_surface (" ⁇ "), runs of byte pieces
// become their UTF-8 text (U+FFFD per invalid byte), ▁ becomes a space, and
// the leading ▁ is dropped while nothing has been written yet. Ids that name
// no piece are skipped.
func (n *spmNative) decode(ids []int) string {
	u := n.model
	var text strings.Builder
	var run []byte
	flush := func() {
		for len(run) > 0 {
			r, k := utf8.DecodeRune(run)
			if r == utf8.RuneError && k == 1 {
				text.WriteString("\uFFFD")
			} else {
				text.Write(run[:k])
			}
			run = run[k:]
		}
		run = run[:0]
	}
	bosWS, bosWSSeen := true, false
	for _, id := range ids {
		if id < 0 || id >= len(u.pieces) {
			continue
		}
		piece := u.pieces[id]
		if u.types[id] == pieceByte {
			b, _ := pieceByteValue(piece)
			run = append(run, b)
			continue
		}
		flush()
		if bosWSSeen || text.Len() > 0 {
			bosWS = false
		}
		bosWSSeen = false
		switch u.types[id] {
		case pieceControl:
			continue
		case pieceUnknown:
			text.WriteString(n.unkSurface)
			continue
		}
		if bosWS && (n.addDummyPrefix || n.removeExtraSpaces) {
			if rest, ok := strings.CutPrefix(piece, "▁"); ok {
				piece = rest
				bosWSSeen = !n.removeExtraSpaces
			}
		}
		text.WriteString(strings.ReplaceAll(piece, "▁", " "))
	}
	flush()
	return text.String()
}
