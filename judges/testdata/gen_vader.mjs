// gen_vader.mjs writes vader_golden.json beside it: VADER compound scores of
// the sentences below, computed by the npm package vader-sentiment 1.1.3
// itself (its published build, SentimentIntensityAnalyzer.polarity_scores),
// for judges.Vader's golden test.
//
//   node judges/testdata/gen_vader.mjs      (node 20; after `make assets`)
//
// The package is read from $NASHMD_ASSETS/vader/package (default
// third_party/cache/vader/package), which scripts/fetch-assets.sh unpacks
// from the sha256-checked tarball.
//
// polarity_scores rounds compound to 4 decimals with Number.prototype.toFixed
// and parseFloat. Each sentence is scored twice: once as published
// ("compound"), and once with toFixed replaced for that call by a function
// returning the number's exact shortest round-trip form ("compound_raw"), so
// the Go test can compare unrounded scores; nothing else of the package is
// touched.
import { createRequire } from 'node:module';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const assets = process.env.NASHMD_ASSETS || path.join(here, '..', '..', 'third_party', 'cache');
const pkgDir = path.join(assets, 'vader', 'package');
const pkg = JSON.parse(readFileSync(path.join(pkgDir, 'package.json'), 'utf8'));
if (pkg.name !== 'vader-sentiment' || pkg.version !== '1.1.3') {
  throw new Error(`want vader-sentiment 1.1.3 in ${pkgDir}, found ${pkg.name} ${pkg.version}`);
}
const require = createRequire(import.meta.url);
const { SentimentIntensityAnalyzer } = require(pkgDir);

// Hand-written sentences: plain lexicon words, negations, boosters and
// dampeners, ALL CAPS, ! and ?, "but", "least", "kind of"/"sort of", the
// special-case idioms, "never so", punctuation glued to words, contractions,
// emoticons made of ASCII, odd white space, non-ASCII letters.
const hand = [
  'The food was good.',
  'The food was great.',
  'The food was bad.',
  'The food was terrible.',
  'The food was not good.',
  'The food was not bad.',
  'The food was never good.',
  'The food was not very good.',
  'The food was very good.',
  'The food was extremely good.',
  'The food was slightly good.',
  'The food was barely good.',
  'The food was kind of good.',
  'The food was sort of good.',
  'The food was kinda good.',
  'The food was GOOD.',
  'The food was VERY good.',
  'The food was VERY GOOD.',
  'THE FOOD WAS GOOD.',
  'The food was good!',
  'The food was good!!',
  'The food was good!!!',
  'The food was good!!!!',
  'The food was good!!!!!!!',
  'The food was good?',
  'The food was good??',
  'The food was good???',
  'The food was good????',
  'Was the food good?!?',
  'The food was good, but the service was bad.',
  'The food was bad, but the service was good.',
  'The food was good but the service was horrible!',
  'The food was good BUT the service was horrible.',
  'The food was good But the service was horrible.',
  'It was ok but not great, but still fine.',
  'I love this place.',
  'I hate this place.',
  "I don't love this place.",
  "I don't hate this place.",
  'I do not hate this place at all.',
  "I can't stand this place.",
  "It isn't terrible.",
  'It isnt terrible.',
  "It wasn't the worst.",
  'Nothing about it was nice.',
  'Without a doubt the best day.',
  'Never have I been so happy.',
  'I have never been so happy.',
  'I have never been this happy.',
  'Never so happy as today.',
  'It is not so bad.',
  'This is the least helpful answer.',
  'This is at least helpful.',
  'At the very least it is helpful.',
  'Least helpful of all.',
  'least helpful of all.',
  'That movie was the bomb.',
  'That party was the shit.',
  'He is a bad ass pilot.',
  'Yeah right, that was great.',
  'This idea does not cut the mustard.',
  'It was the kiss of death for the plan.',
  'They live hand to mouth and are sad.',
  'She is smart, kind, and funny.',
  'He is lazy, rude and boring.',
  'What a wonderful, beautiful, amazing day!',
  'What a horrible, ugly, awful day!',
  'Thanks a lot :)',
  'That is sad :(',
  'lol that was funny',
  'LOL that was funny',
  'The answer is 42.',
  'Paris is the capital of France.',
  'Water boils at 100 degrees.',
  'I am happy.',
  'I am HAPPY.',
  'I AM HAPPY.',
  'I am so happy.',
  'I am SO happy.',
  'I am really really happy.',
  'I am not really happy.',
  'I am really not happy.',
  'I am hardly happy.',
  'I am somewhat happy.',
  'I am happy, happy, happy!',
  'I am sad.',
  'I am not sad.',
  'I am very sad.',
  'I am VERY sad!',
  'I am extremely sad!!',
  'I was not unhappy.',
  'The results are not unreasonable.',
  'The weather is nice, but it is cold.',
  'The weather is cold, but it is nice.',
  'Honestly, this is the best solution.',
  'Honestly, this is the worst solution.',
  'The code works, but it is ugly and slow.',
  'The code is clean, tested and fast.',
  'The code crashes, leaks and fails.',
  'Great job!',
  'Terrible job!',
  'Good.',
  'Bad.',
  'good',
  'bad',
  'a',
  '',
  '!!!',
  '???',
  'Good good good good good good good good good good.',
  'Bad bad bad bad bad bad bad bad bad bad.',
  'I feel awful, horrible, terrible, dreadful and miserable.',
  'I feel wonderful, fantastic, excellent, superb and great.',
  'Not bad at all.',
  'Not good at all.',
  'Not the best, not the worst.',
  'It was not a bad movie, but not a good one either.',
  'Rarely have I seen such beauty.',
  'Seldom is it this good.',
  'Despite the rain, we had fun.',
  'Neither good nor bad.',
  'uh-uh, that is wrong',
  'Nope, that is not right.',
  "Won't you help me? Please!",
  'You are wrong and I am right.',
  'Thank you so much for your help.',
  'Thank you SO MUCH for your help!',
  'Sorry, I cannot help with that.',
  'Sorry, I can help with that.',
  'I apologize for the confusion.',
  'This product is a total failure.',
  'This product is a complete success.',
  'Absolutely fantastic experience.',
  'Utterly disappointing experience.',
  'The plot was dull, the acting was wooden, but the music was brilliant!',
  'The music was brilliant, but the plot was dull and the acting was wooden.',
  'i love it',
  'i LOVE it',
  'I LOVE IT',
  'i really LOVE it!!!',
  'i kind of like it',
  'i kind of hate it',
  'It is kind of nice and sort of helpful.',
  'It is just enough to be useful.',
  'The hotel was... fine.',
  'The hotel was -- fine.',
  '"Great," she said.',
  "'Awful' was the word.",
  'Excellent!!! Really excellent!!!',
  'Good?! Good!?',
  'This\tis\ttab\tseparated and good',
  'Lines\nbreak\nbut stay happy',
  'Non-breaking\u00a0space good',
  'Ideographic\u3000space good',
  'Zero width no-break\ufeffspace good',
  'Café au lait is delicious.',
  'Naïve but charming.',
  'Über cool and very nice.',
  'The résumé looks great.',
  'ÇA VA? Good.',
  'GOOD news and BAD news.',
  'Good NEWS and bad NEWS.',
  'The service was SLOW and the staff was RUDE.',
  'Extremely GOOD and VERY bad.',
  'Super, the meal was super.',
  'I would not recommend this restaurant.',
  'I would definitely recommend this restaurant.',
  'Do not waste your money.',
  'Worth every penny.',
  'It is worthless.',
  'Love, love, love it!',
  'Hate, hate, hate it!',
  "It's not that I don't like it.",
  "I didn't say it was bad.",
  'Hardly the worst thing ever.',
  'Barely acceptable.',
  'Almost perfect.',
  'Perfectly fine.',
  'Yes.',
  'No.',
  'Yes!',
  'No!',
  'Maybe.',
  'OK.',
  'Okay then.',
  'Wow.',
  'WOW!',
  'Ugh.',
  'The model answered correctly: 3 + 4 = 7.',
  'The model answered incorrectly, sadly.',
  'This answer is helpful, harmless and honest.',
  'This answer is harmful and dishonest.',
  'It was never so good.',
  'I am never this happy.',
  'It was never so very good.',
  'Is it good ????',
  'Really great ?????',
  'It was\ufeffgreat',
  'It was\u0085great',
  'It was\u2003great',
  'It was\u200bgreat',
  'GOOD \u{1D400}',
  'GOOD \u00e9',
];

// Templated sentences: every negator × booster × word, with and without
// capitals, "but" and exclamation marks, deterministic order.
const templated = [];
const negators = ['', 'not ', 'never ', "isn't "];
const boosters = ['', 'very ', 'slightly '];
const words = ['good', 'awful', 'helpful', 'boring'];
for (const n of negators) {
  for (const b of boosters) {
    for (const w of words) {
      templated.push(`It is ${n}${b}${w}.`);
    }
  }
}
for (const w of words) {
  templated.push(`It is ${w.toUpperCase()} and fine.`);
  templated.push(`It is fine but ${w}!`);
  templated.push(`It is ${w} but fine!!`);
  templated.push(`It really is not that ${w}, is it??`);
  templated.push(`They said it was ${w}, but I think it was great.`);
  templated.push(`Honestly it is so ${w} and so nice.`);
}

const sentences = [...hand, ...templated];
const cases = sentences.map(text => {
  const published = SentimentIntensityAnalyzer.polarity_scores(text).compound;
  const toFixed = Number.prototype.toFixed;
  let raw;
  try {
    Number.prototype.toFixed = function () { return String(Number(this)); };
    raw = SentimentIntensityAnalyzer.polarity_scores(text).compound;
  } finally {
    Number.prototype.toFixed = toFixed;
  }
  return { text, compound: published, compound_raw: raw };
});
const out = {
  generator: 'judges/testdata/gen_vader.mjs',
  package: `${pkg.name}@${pkg.version}`,
  node: process.version,
  cases,
};
writeFileSync(path.join(here, 'vader_golden.json'), JSON.stringify(out, null, 1) + '\n');
console.log(`wrote ${cases.length} cases to ${path.join(here, 'vader_golden.json')}`);
