/**
 * Keyword extraction for captions: lowercase, drop apostrophes (so "don't" → "dont" and matches the
 * stop word), split on anything that is not a letter or digit (Unicode-aware), keep words of at
 * least MIN_WORD_LENGTH characters that contain a letter and are not English stop words.
 */

/** Words never reported as keywords: English function words and conversational filler. */
export const STOP_WORDS: ReadonlySet<string> = new Set(
  (
    'the and for are but not you all any can had her was one our out day get has him his how man new now ' +
    'old see two way who boy did its let put say she too use about above after again against also ' +
    'although always among another anyone anything are aren arent around because been before being below ' +
    'between both cannot could couldnt did didnt does doesnt doing done dont down during each either else ' +
    'enough even ever every few from further gonna gotta had hadnt has hasnt have havent having hed hell ' +
    'hello here heres hers herself hes himself however ill im ive into isnt its itself just kind know ' +
    'least less like lot lots made make many may maybe mean might mine more most much must mustnt myself ' +
    'need neither never next nobody none nor nothing okay once only onto other others otherwise ought ours ' +
    'ourselves over own per perhaps please quite rather really right same says shall shant shed shell ' +
    'should shouldnt since some somebody someone something sort still such sure than thank thanks that ' +
    'thats the their theirs them themselves then there theres these they theyd theyll theyre theyve thing ' +
    'things think this those though through thus till together too toward towards under unless until upon ' +
    'very via want wanna was wasnt well went were werent what whats when whenever where whereas whether ' +
    'which while who whoever whole whom whos whose why will with within without wont would wouldnt yeah ' +
    'yes yet you youd youll your youre yours yourself yourselves youve actually basically going got just ' +
    'okay sorry stuff uh uhh uhm um umm hmm mhm hey oh ok also able back come comes coming go goes good ' +
    'great look looks said saying see seems take tell thing try yep nope lets'
  ).split(/\s+/),
);

export const MIN_WORD_LENGTH = 3;
/** Caption text beyond this is ignored (bounds work and memory per segment). */
export const MAX_TEXT_CHARS = 2000;
/** At most this many words are kept per segment. */
export const MAX_WORDS_PER_SEGMENT = 100;

const APOSTROPHES = /['\u2019\u02bc]/g;
const SEPARATORS = /[^\p{L}\p{N}]+/u;
const HAS_LETTER = /\p{L}/u;

/** The keywords of one text, in order, with repeats. */
export function keywords(text: string): string[] {
  const out: string[] = [];
  const words = text.slice(0, MAX_TEXT_CHARS).toLowerCase().replace(APOSTROPHES, '').split(SEPARATORS);
  for (const word of words) {
    if (word.length < MIN_WORD_LENGTH || STOP_WORDS.has(word) || !HAS_LETTER.test(word)) continue;
    out.push(word);
    if (out.length >= MAX_WORDS_PER_SEGMENT) break;
  }
  return out;
}
