#!/usr/bin/env python3
# Golden-file generator for package github.com/nashmd/nashmd/judges.
#
# Pinned versions: python 3.11, standard library only.
#
# Run from the repository root (make golden does):
#   /work/main/.venv/bin/python judges/testdata/gen_golden.py
#
# Writes, next to this script:
#   squad_normalize.json  {"cases": [{"text", "normalized"}]}: SQuAD v1.1's
#                         normalize_answer (the official evaluate-v1.1.py, re-typed
#                         below verbatim) applied to each text, for
#                         judges.NormalizeAnswer.
#
# The inputs avoid what judges.NormalizeAnswer documents as its own: Unicode
# punctuation outside ASCII (which it deletes too, SQuAD keeps), letters whose
# Python and Go lower-casing differ (final sigma, dotted capital I), and
# non-space word boundaries around articles ("the€").
#
# vader_golden.json beside it comes from gen_vader.mjs (node, the npm package
# vader-sentiment itself), not from this script.
import json
import os
import re
import string


def normalize_answer(s):
    """Lower text and remove punctuation, articles and extra whitespace."""

    def remove_articles(text):
        return re.sub(r'\b(a|an|the)\b', ' ', text)

    def white_space_fix(text):
        return ' '.join(text.split())

    def remove_punc(text):
        exclude = set(string.punctuation)
        return ''.join(ch for ch in text if ch not in exclude)

    def lower(text):
        return text.lower()

    return white_space_fix(remove_articles(remove_punc(lower(s))))


TEXTS = [
    "Paris",
    "paris",
    "  Paris  ",
    "Paris.",
    "The Eiffel Tower",
    "the eiffel tower!",
    "An apple a day",
    "a",
    "The",
    "the the the",
    "Theatre and anthem",
    "A.B.C.",
    "state-of-the-art",
    "U.S.A.",
    "42",
    "$3.50",
    "1,000,000",
    "3 + 4 = 7",
    "x^2 | y ~ z",
    "<b>bold</b>",
    "`code`",
    "e-mail: a@b.c",
    "It's the end (of the world)",
    "\"Quoted\" answer",
    "tabs\tand\nnewlines",
    "Mixed   CASE   Words",
    "Café au lait",
    "ÜBER straße",
    "naïve résumé",
    "Ελληνικά",
    "Москва",
    "東京",
    "an an a the",
    "The answer is: the answer.",
    "...",
    "",
    "[1] {2} (3)",
    "under_score and back\\slash",
    "#hashtag *star* %percent &amp",
    "Yes!",
    "No, it isn't.",
]


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    cases = [{"text": t, "normalized": normalize_answer(t)} for t in TEXTS]
    with open(os.path.join(here, "squad_normalize.json"), "w", encoding="utf-8") as f:
        json.dump({"generator": "judges/testdata/gen_golden.py", "cases": cases}, f, ensure_ascii=False, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
