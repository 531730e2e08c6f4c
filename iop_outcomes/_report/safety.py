"""Safe-to-share guards: identifier scrubbing and spreadsheet formula-injection neutralisation.

Report tables are aggregates, so they should never contain identifiers in the first place;
these functions are the last check before anything is written.

- :func:`scrub_identifiers` drops columns that identify a person or an episode (``patient_id``,
  ``episode_id``, names, record numbers, contact details, dates of birth) and every column of
  exact dates (``*_date``, ``dob``), which could identify an individual when combined.
- :func:`name_like_values` finds group labels that look like a person's name (a title such as
  "Dr" or "Mrs", or two or three capitalised words such as "Jane Smith"), e.g. a site named
  after its clinician. The report cannot know whether they are names; it asks.
- :func:`neutralise_formulas` prefixes text cells that a spreadsheet would read as a formula
  (first character ``=``, ``+``, ``-``, ``@``, tab or carriage return) with an apostrophe, as
  OWASP's "CSV injection" guidance recommends. Numbers are never touched, so a negative change
  stored as a number stays a negative number.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import numpy as np
import pandas as pd

__all__ = [
    "IDENTIFIER_COLUMNS",
    "is_identifier_column",
    "scrub_identifiers",
    "neutralise_formulas",
    "neutralised_values",
    "neutralise_text",
    "find_identifiers",
    "NAME_CHECK_COLUMNS",
    "looks_like_person_name",
    "name_like_values",
]

#: Column names (case-insensitive, spaces/hyphens as underscores) never written to shared output.
IDENTIFIER_COLUMNS = frozenset(
    {
        "patient_id",
        "episode_id",
        "person_id",
        "client_id",
        "member_id",
        "subject_id",
        "mrn",
        "medical_record_number",
        "nhs_number",
        "ssn",
        "social_security_number",
        "name",
        "first_name",
        "last_name",
        "full_name",
        "patient_name",
        "email",
        "phone",
        "telephone",
        "address",
        "street",
        "postcode",
        "zip",
        "zip_code",
        "dob",
        "date_of_birth",
        "birth_date",
        "birthdate",
        "source_row",
        "row",
    }
)

#: Grouping columns of the data contract whose labels could be named after a person (a site
#: or program named after its clinician). Format is normalised to fixed labels; gender, race
#: and payer labels are categories whose two-word names ("White British", "Blue Cross") are
#: not people.
NAME_CHECK_COLUMNS = ("site", "program", "cohort")
_TITLES = frozenset(
    {"dr", "mr", "mrs", "ms", "miss", "mx", "prof", "professor", "rev", "sir", "dame"}
)
#: Words that make a two-word label a place or an organisation, not a person.
_NOT_NAME_WORDS = frozenset(
    """north south east west central northern southern eastern western upper lower new old
    main downtown uptown city county valley river lake park hill hills street road avenue
    clinic clinics center centre hospital health healthcare medical campus site office
    program programme unit ward team group service services house institute university
    college community behavioral behavioural mental care recovery wellness counseling
    counselling outpatient inpatient virtual online remote hybrid adult adults youth teen
    child children family women men veterans cohort day evening morning""".split()
)
#: A capitalised word of a name: Jane, McDonald, O'Neil, Mary-Jane (two letters or more).
_WORD = re.compile(r"^(?=..)[A-Z][a-z]*(?:['’]?[A-Z][a-z]+)*(?:-[A-Z][a-z]+)*$")


def looks_like_person_name(value: object) -> bool:
    """Whether a label looks like a person's name: a title (Dr, Mr, Mrs, Ms, Prof, ...)
    followed by a capitalised word, or two or three capitalised words none of which is a
    place or organisation word ("North Clinic" is not flagged).

    Examples
    --------
    >>> [looks_like_person_name(v) for v in ["Dr Jane Smith", "Mrs. Patel", "Jane Smith"]]
    [True, True, True]
    >>> [looks_like_person_name(v) for v in ["North", "North Clinic", "in_person", "SITE A"]]
    [False, False, False, False]
    """
    if not isinstance(value, str):
        return False
    words = value.replace(".", " ").split()
    if len(words) >= 2 and words[0].lower() in _TITLES:
        return all(w[:1].isupper() for w in words[1:])
    return (
        2 <= len(words) <= 3
        and all(_WORD.match(w) for w in words)
        and not any(w.lower() in _NOT_NAME_WORDS for w in words)
    )


def name_like_values(data: pd.DataFrame, columns: Iterable[str] = NAME_CHECK_COLUMNS) -> dict:
    """``{column: [labels that look like a person's name]}`` for the ``columns`` of ``data``
    that have any (each column's distinct labels are checked once, not its rows).

    Examples
    --------
    >>> import pandas as pd
    >>> d = pd.DataFrame({"site": ["North", "Dr Jane Smith", "North"], "format": ["virtual"] * 3})
    >>> name_like_values(d)
    {'site': ['Dr Jane Smith']}
    """
    out = {}
    for c in columns:
        if c not in data.columns or pd.api.types.is_numeric_dtype(data[c]):
            continue
        s = data[c]
        labels = (
            s.cat.categories if isinstance(s.dtype, pd.CategoricalDtype) else s.dropna().unique()
        )
        found = sorted({str(v) for v in labels if looks_like_person_name(v)})
        if found:
            out[str(c)] = found
    return out


_DATE_COL = re.compile(r"(^|_)(date|datetime|dob|timestamp)($|_)")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _norm(name: object) -> str:
    return re.sub(r"[\s\-]+", "_", str(name).strip().lower())


def is_identifier_column(name: object) -> bool:
    """Whether a column name denotes an identifier or an individual's exact date.

    Examples
    --------
    >>> [is_identifier_column(c) for c in ["Patient ID", "admit_date", "format", "n"]]
    [True, True, False, False]
    """
    n = _norm(name)
    return n in IDENTIFIER_COLUMNS or bool(_DATE_COL.search(n))


def scrub_identifiers(df: pd.DataFrame) -> pd.DataFrame:
    """Return ``df`` without identifier and exact-date columns (index reset if it holds any).

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.DataFrame({"patient_id": ["p1"], "discharge_date": ["2025-01-02"], "n": [3]})
    >>> list(scrub_identifiers(t).columns)
    ['n']
    """
    keep = [c for c in df.columns if not is_identifier_column(c)]
    out = df.loc[:, keep]
    names = [n for n in (out.index.names or []) if n is not None]
    if any(is_identifier_column(n) for n in names):
        out = out.reset_index(drop=True)
    return out


def neutralise_text(value: str) -> str:
    """Prefix a text value with ``'`` if a spreadsheet would read it as a formula.

    Examples
    --------
    >>> neutralise_text("=HYPERLINK(1)"), neutralise_text("-2 points"), neutralise_text("<11")
    ("'=HYPERLINK(1)", "'-2 points", '<11')
    """
    if value and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def neutralised_values(s: pd.Series) -> np.ndarray | None:
    """A column's values as objects with :func:`neutralise_text` applied to the text ones;
    ``None`` for a numeric or boolean column, which has no text to neutralise.

    Examples
    --------
    >>> import pandas as pd
    >>> neutralised_values(pd.Series(["=1+1", "ok"])).tolist(), neutralised_values(pd.Series([1]))
    (["'=1+1", 'ok'], None)
    """
    if pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s):
        return None
    vals = s.astype("object").to_numpy(copy=True)
    for i, v in enumerate(vals):
        if isinstance(v, str):
            vals[i] = neutralise_text(v)
    return vals


def neutralise_formulas(df: pd.DataFrame) -> pd.DataFrame:
    """Neutralise formula-like text in cells, column names and index labels.

    Only text (``str``) values change; numeric cells, including negative numbers, are kept as
    numbers.

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.DataFrame({"label": ["=1+1", "@SUM(A1)", "in_person"], "change": [-3.5, 1.0, 0]})
    >>> out = neutralise_formulas(t)
    >>> out["label"].tolist(), out["change"].tolist()
    (["'=1+1", "'@SUM(A1)", 'in_person'], [-3.5, 1.0, 0.0])
    """
    out = df.copy()
    for c in out.columns:
        vals = neutralised_values(out[c])
        if vals is not None:
            out[c] = vals
    out.columns = [neutralise_text(c) if isinstance(c, str) else c for c in out.columns]
    if out.index.dtype == object:
        out.index = [neutralise_text(v) if isinstance(v, str) else v for v in out.index]
    return out


def find_identifiers(text: str, identifiers: Iterable[object]) -> list[str]:
    """Identifiers that occur in ``text`` (as whole tokens); empty when none do.

    Used by tests and as the report's final check before writing.

    Examples
    --------
    >>> find_identifiers("site A: n = 12", ["P0001", "A"]), find_identifiers("id P0001", ["P0001"])
    (['A'], ['P0001'])
    """
    ids = sorted({str(i) for i in identifiers if i is not None and str(i) != ""})
    tokens = set(re.findall(r"[A-Za-z0-9_\-]+", text))
    found = []
    for i in ids:
        if re.fullmatch(r"[A-Za-z0-9_\-]+", i):
            if i in tokens:
                found.append(i)
        elif i in text:
            found.append(i)
    return found
