"""Inflected forms of people's names in Czech, Slovak, Polish and Lithuanian.

These languages decline names: "Klára Menšíková" appears as "Kláry Menšíkové", "s Klárou
Menšíkovou", "Menšíkovej" (Slovak); "Vojtěch Šimánek" as "Šimánka", "Šimánkovi"; a Lithuanian
"Vaitkus" as "Vaitkaus", "Vaitkui". The watchlist names the nominative; these rules add the
other case forms by the word's ending, so a mention in any case is found. Only the endings of
names are rewritten (no dictionary), so the forms stay few and specific: a word shorter than
``MIN_STEM`` + its ending is left alone, and forms shorter than ``MIN_FORM`` are dropped, so
short words cannot turn into common ones.

Each rule is (ending, replacements): the ending is cut and each replacement appended. Rules are
tried longest ending first; the first that applies wins.
"""

from __future__ import annotations

MIN_STEM = 3
MIN_FORM = 5

RULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    # Czech and Slovak feminine surnames
    ("ová", ("ové", "ovou", "ovej", "ovú")),
    ("ova", ("ove", "ovou", "ovej", "ovu")),
    ("ská", ("ské", "skou", "skej", "skú")),
    ("cká", ("cké", "ckou", "ckej", "ckú")),
    # Polish adjectival surnames
    ("ski", ("skiego", "skiemu", "skim")),
    ("cki", ("ckiego", "ckiemu", "ckim")),
    ("ska", ("skiej", "ską", "ské", "skou")),
    ("cka", ("ckiej", "cką")),
    # Lithuanian
    ("ienė", ("ienės", "ienei", "ienę", "iene")),
    ("aitė", ("aitės", "aitei", "aitę", "aite")),
    ("ytė", ("ytės", "ytei", "ytę", "yte")),
    ("as", ("o", "ui", "ą", "u", "e", "ai")),
    ("is", ("io", "iui", "į", "iu", "y")),
    ("ys", ("io", "iui", "į", "iu")),
    ("us", ("aus", "ui", "ų", "umi", "uje")),
    ("ė", ("ės", "ei", "ę", "e")),
    # Czech, Slovak and Polish masculine names in -ek / -ec
    ("ek", ("ka", "kovi", "kem", "ku", "kowi", "kiem")),
    ("ec", ("ce", "ci", "cem", "covi")),
    # names in -a (Klára, Lenka, Kovanda): feminine and masculine cases
    ("ra", ("ry", "ře", "ru", "rou", "rovi", "re")),
    ("ka", ("ky", "ce", "ku", "kou", "kovi")),
    ("ha", ("hy", "ze", "hu", "hou", "hovi")),
    ("da", ("dy", "dě", "de", "du", "dou", "dovi")),
    ("ta", ("ty", "tě", "te", "tu", "tou", "tovi")),
    ("na", ("ny", "ně", "ne", "nu", "nou", "novi")),
    ("a", ("y", "e", "u", "ou", "ovi", "i")),
)
CONSONANT_ENDINGS = ("a", "ovi", "em", "e", "u", "owi", "iem", "om")
"""Masculine names ending in a consonant (Novák, Radim, Vojtěch): Czech, Slovak, Polish cases."""
VOWELS = frozenset("aeiouyáéíóúýěůąęėįųūœäöü")


def inflections(word: str) -> set[str]:
    """Other case forms of one name word (not including ``word`` itself)."""
    lower = word.lower()
    forms: set[str] = set()
    for ending, replacements in RULES:
        if lower.endswith(ending) and len(word) - len(ending) >= MIN_STEM:
            stem = word[: len(word) - len(ending)]
            forms = {stem + r for r in replacements}
            break
    else:
        if len(word) >= MIN_STEM + 1 and lower[-1].isalpha() and lower[-1] not in VOWELS:
            forms = {word + r for r in CONSONANT_ENDINGS}
    return {f for f in forms if len(f) >= MIN_FORM and f.lower() != lower}


def inflected_names(name: str) -> set[str]:
    """Case forms of a multi-word name: each word inflected alone (the surname in another case
    with the first name as written, the common way a name is declined in running text) and the
    surname's forms on their own are left to the caller."""
    words = name.split()
    if not words:
        return set()
    forms: set[str] = set()
    for index, word in enumerate(words):
        for form in inflections(word):
            forms.add(" ".join([*words[:index], form, *words[index + 1 :]]))
    if len(words) == 2:  # both words in the same case: "Kláry Menšíkové"
        first, last = sorted(inflections(words[0])), sorted(inflections(words[1]))
        forms.update(f"{a} {b}" for a in first for b in last)
    return forms
