"""Counterfactual word pairs (base → target) for concept directions in a real LM.

Written for this project in the spirit of Park et al. (2024, Table 2), whose lists come
from BATS 3.0 and ChatGPT-4; these lists are our own, kept short and common so that many
pairs survive single-token filtering. Each concept differs between base and target in
that one concept only (e.g. actor → actress changes gender, not number).
Words are stored bare; :func:`logitrank.real_models.linear_reps.filter_single_token_pairs`
decides how they are tokenised (by default with a leading space, the form a word takes
inside a sentence in byte-level BPE vocabularies such as SmolLM2's).
"""

from __future__ import annotations

__all__ = ["WORD_PAIRS"]

WORD_PAIRS: dict[str, list[tuple[str, str]]] = {
    "male⇒female": [
        ("actor", "actress"), ("boy", "girl"), ("brother", "sister"), ("father", "mother"),
        ("king", "queen"), ("man", "woman"), ("men", "women"), ("son", "daughter"),
        ("husband", "wife"), ("uncle", "aunt"), ("nephew", "niece"), ("prince", "princess"),
        ("he", "she"), ("him", "her"), ("his", "her"), ("dad", "mom"), ("god", "goddess"),
        ("hero", "heroine"), ("lord", "lady"), ("sir", "madam"), ("groom", "bride"),
        ("waiter", "waitress"), ("emperor", "empress"), ("duke", "duchess"), ("grandfather", "grandmother"),
        ("gentleman", "lady"), ("male", "female"), ("boys", "girls"), ("kings", "queens"),
        ("brothers", "sisters"), ("mr", "mrs"), ("bull", "cow"), ("lion", "lioness"),
    ],
    "noun⇒plural": [
        ("album", "albums"), ("car", "cars"), ("house", "houses"), ("dog", "dogs"), ("cat", "cats"),
        ("book", "books"), ("tree", "trees"), ("city", "cities"), ("child", "children"),
        ("woman", "women"), ("man", "men"), ("day", "days"), ("year", "years"), ("friend", "friends"),
        ("student", "students"), ("teacher", "teachers"), ("school", "schools"), ("road", "roads"),
        ("river", "rivers"), ("song", "songs"), ("game", "games"), ("idea", "ideas"), ("country", "countries"),
        ("window", "windows"), ("door", "doors"), ("bird", "birds"), ("horse", "horses"),
        ("family", "families"), ("problem", "problems"), ("system", "systems"), ("page", "pages"),
        ("word", "words"), ("hand", "hands"), ("eye", "eyes"), ("foot", "feet"), ("mouse", "mice"),
    ],
    "country⇒capital": [
        ("France", "Paris"), ("Germany", "Berlin"), ("Italy", "Rome"), ("Spain", "Madrid"),
        ("Japan", "Tokyo"), ("China", "Beijing"), ("Russia", "Moscow"), ("England", "London"),
        ("Egypt", "Cairo"), ("Greece", "Athens"), ("Austria", "Vienna"), ("Poland", "Warsaw"),
        ("Ireland", "Dublin"), ("Portugal", "Lisbon"), ("Norway", "Oslo"), ("Sweden", "Stockholm"),
        ("Kenya", "Nairobi"), ("Peru", "Lima"), ("Cuba", "Havana"), ("Thailand", "Bangkok"),
        ("Canada", "Ottawa"), ("Turkey", "Ankara"), ("Iran", "Tehran"), ("Iraq", "Baghdad"),
        ("Syria", "Damascus"), ("Hungary", "Budapest"), ("Belgium", "Brussels"), ("Denmark", "Copenhagen"),
        ("Finland", "Helsinki"), ("Chile", "Santiago"), ("Argentina", "Buenos"), ("Korea", "Seoul"),
        ("India", "Delhi"), ("Australia", "Canberra"),
    ],
    "English⇒French": [
        ("April", "avril"), ("water", "eau"), ("house", "maison"), ("cat", "chat"), ("dog", "chien"),
        ("man", "homme"), ("woman", "femme"), ("day", "jour"), ("night", "nuit"), ("year", "année"),
        ("world", "monde"), ("life", "vie"), ("time", "temps"), ("city", "ville"), ("school", "école"),
        ("book", "livre"), ("friend", "ami"), ("king", "roi"), ("queen", "reine"),
        ("black", "noir"), ("white", "blanc"), ("red", "rouge"), ("green", "vert"), ("big", "grand"),
        ("small", "petit"), ("good", "bon"), ("new", "nouveau"), ("with", "avec"), ("without", "sans"),
        ("and", "et"), ("but", "mais"), ("very", "très"), ("always", "toujours"), ("today", "aujourd"),
        ("sea", "mer"), ("sun", "soleil"), ("moon", "lune"), ("love", "amour"), ("war", "guerre"),
        ("country", "pays"), ("church", "église"), ("street", "rue"), ("people", "gens"),
    ],
    "verb⇒past": [
        ("accept", "accepted"), ("add", "added"), ("ask", "asked"), ("call", "called"), ("walk", "walked"),
        ("play", "played"), ("work", "worked"), ("move", "moved"), ("live", "lived"), ("open", "opened"),
        ("start", "started"), ("help", "helped"), ("turn", "turned"), ("want", "wanted"), ("look", "looked"),
        ("go", "went"), ("see", "saw"), ("take", "took"), ("give", "gave"), ("make", "made"),
        ("come", "came"), ("know", "knew"), ("find", "found"), ("think", "thought"), ("tell", "told"),
        ("become", "became"), ("leave", "left"), ("feel", "felt"), ("bring", "brought"), ("begin", "began"),
        ("write", "wrote"), ("run", "ran"), ("sit", "sat"), ("stand", "stood"), ("win", "won"),
        ("lose", "lost"), ("pay", "paid"), ("meet", "met"), ("buy", "bought"), ("speak", "spoke"),
    ],
    "verb⇒Ving": [
        ("add", "adding"), ("ask", "asking"), ("call", "calling"), ("walk", "walking"), ("play", "playing"),
        ("work", "working"), ("go", "going"), ("see", "seeing"), ("take", "taking"), ("make", "making"),
        ("come", "coming"), ("find", "finding"), ("think", "thinking"), ("look", "looking"), ("help", "helping"),
        ("start", "starting"), ("turn", "turning"), ("read", "reading"), ("write", "writing"), ("run", "running"),
        ("sit", "sitting"), ("stand", "standing"), ("win", "winning"), ("pay", "paying"), ("meet", "meeting"),
        ("build", "building"), ("eat", "eating"), ("sleep", "sleeping"), ("speak", "speaking"), ("learn", "learning"),
    ],
    "verb⇒3pSg": [
        ("accept", "accepts"), ("add", "adds"), ("ask", "asks"), ("call", "calls"), ("walk", "walks"),
        ("play", "plays"), ("work", "works"), ("go", "goes"), ("see", "sees"), ("take", "takes"),
        ("make", "makes"), ("come", "comes"), ("find", "finds"), ("think", "thinks"), ("look", "looks"),
        ("help", "helps"), ("start", "starts"), ("turn", "turns"), ("read", "reads"), ("write", "writes"),
        ("run", "runs"), ("sit", "sits"), ("stand", "stands"), ("win", "wins"), ("pay", "pays"),
        ("meet", "meets"), ("build", "builds"), ("eat", "eats"), ("speak", "speaks"), ("learn", "learns"),
        ("have", "has"), ("do", "does"), ("say", "says"), ("get", "gets"), ("need", "needs"),
    ],
    "lower⇒upper": [
        ("always", "Always"), ("the", "The"), ("and", "And"), ("but", "But"), ("when", "When"),
        ("what", "What"), ("where", "Where"), ("this", "This"), ("that", "That"), ("there", "There"),
        ("they", "They"), ("we", "We"), ("you", "You"), ("it", "It"), ("he", "He"), ("she", "She"),
        ("king", "King"), ("queen", "Queen"), ("new", "New"), ("one", "One"), ("first", "First"),
        ("after", "After"), ("before", "Before"), ("if", "If"), ("so", "So"), ("then", "Then"),
        ("now", "Now"), ("here", "Here"), ("today", "Today"), ("however", "However"), ("while", "While"),
        ("each", "Each"), ("every", "Every"), ("some", "Some"), ("many", "Many"), ("most", "Most"),
        ("house", "House"), ("water", "Water"), ("time", "Time"), ("world", "World"),
    ],
    "adj⇒comparative": [
        ("bad", "worse"), ("good", "better"), ("big", "bigger"), ("small", "smaller"), ("large", "larger"),
        ("long", "longer"), ("short", "shorter"), ("high", "higher"), ("low", "lower"), ("old", "older"),
        ("young", "younger"), ("strong", "stronger"), ("weak", "weaker"), ("fast", "faster"), ("slow", "slower"),
        ("hard", "harder"), ("easy", "easier"), ("cheap", "cheaper"), ("rich", "richer"), ("poor", "poorer"),
        ("deep", "deeper"), ("wide", "wider"), ("close", "closer"), ("late", "later"), ("early", "earlier"),
        ("great", "greater"), ("far", "further"), ("warm", "warmer"), ("cold", "colder"), ("safe", "safer"),
    ],
    "adj⇒superlative": [
        ("bad", "worst"), ("good", "best"), ("big", "biggest"), ("small", "smallest"), ("large", "largest"),
        ("long", "longest"), ("short", "shortest"), ("high", "highest"), ("low", "lowest"), ("old", "oldest"),
        ("young", "youngest"), ("strong", "strongest"), ("fast", "fastest"), ("hard", "hardest"),
        ("easy", "easiest"), ("rich", "richest"), ("deep", "deepest"), ("great", "greatest"), ("late", "latest"),
        ("early", "earliest"), ("close", "closest"), ("cheap", "cheapest"), ("tall", "tallest"), ("near", "nearest"),
    ],
    "pronoun⇒possessive": [
        ("he", "his"), ("they", "their"), ("we", "our"), ("you", "your"), ("I", "my"), ("she", "her"),
        ("it", "its"),
    ],
    "small⇒big": [
        ("small", "big"), ("little", "large"), ("short", "long"), ("tiny", "huge"), ("narrow", "wide"),
        ("thin", "thick"), ("low", "high"), ("few", "many"), ("less", "more"), ("brief", "long"),
        ("minor", "major"), ("light", "heavy"), ("shallow", "deep"), ("mini", "giant"), ("least", "most"),
        ("min", "max"), ("smaller", "bigger"), ("smallest", "biggest"),
    ],
    "adj⇒un+adj": [
        ("able", "unable"), ("known", "unknown"), ("likely", "unlikely"), ("usual", "unusual"),
        ("fair", "unfair"), ("happy", "unhappy"), ("clear", "unclear"), ("safe", "unsafe"), ("stable", "unstable"),
        ("even", "uneven"), ("common", "uncommon"), ("certain", "uncertain"), ("aware", "unaware"),
        ("necessary", "unnecessary"), ("fortunately", "unfortunately"),
    ],
}
