"""Inventory of the citations in geodln's docstrings, and the citations page built from it.

Every entry ``.. [n] KEY: ...`` of a numpydoc ``References`` section of a docstring in
``geodln/`` is read from the source (``ast``, no import): the citing object, the bibliography
key, the locator (equation, theorem, lemma, section, ... of the cited work), the rest of the
entry text (what the formula is) and the first line of the object's docstring (what the object
computes). Each (key, locator) pair is looked up in ``docs/citation_status.csv``, the record of
which locators were checked against the paper's text (``verified``: the source and the matched
words are given) and which could not be (``unverified``, with the reason).

``python docs/citations.py`` prints the inventory as tab-separated lines;
``docs/conf.py`` calls :func:`write_page` on every build to generate ``docs/citations.md``.
"""

import ast
import csv
import re
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
PACKAGE = ROOT / "geodln"
STATUS = DOCS / "citation_status.csv"
#: The verification statuses, from checked to unchecked.
STATUSES = ("verified", "partial", "secondary", "unverified")

_ENTRY = re.compile(r"^\s*\.\. \[(\w+)\]\s*(.*)$")
_KEY = re.compile(r"^([A-Z][A-Z0-9]+\d\d[a-z]?)\s*:\s*(.*)$", re.S)
#: A locator: the kind of place and its number (``Eq. (3.13)``, ``Theorem 1``, ``Section 4``).
LOCATOR = re.compile(
    r"(?:\b(?:Eqs?\.|Equations?|Theorems?|Thm\.|Lemmas?|Propositions?|Prop\.|Corollary|Cor\."
    r"|Definitions?|Def\.|Algorithms?|Alg\.|Procedures?|Sections?|Sect?\.|Chapters?|Ch\."
    r"|Figures?|Figs?\.|Tables?|Remarks?|[Pp]roblem)|§)\s*"
    r"\(?[A-Z]?\.?[\dIVX]+(?:\.\d+)*[a-z]?\)?(?:\s*(?:[-–,]|and)\s*\(?\d+(?:\.\d+)*\)?)*"
    r"|\b(?:Appendix|App\.)\s*[A-Z](?:\.\d+)*\b"
    r"|\b[Aa]bstract\b"
)


def _references(doc):
    """Return the entries of a docstring's ``References`` section, each on one line."""
    lines = doc.splitlines()
    out, inside, current = [], False, None
    for i, line in enumerate(lines):
        nxt = lines[i + 1] if i + 1 < len(lines) else ""
        if re.match(r"^\s*-{3,}\s*$", nxt) and line.strip():
            inside = line.strip() == "References"
            if current:
                out.append(current)
                current = None
            continue
        if not inside or re.match(r"^\s*-{3,}\s*$", line):
            continue
        m = _ENTRY.match(line)
        if m:
            if current:
                out.append(current)
            current = m.group(2).strip()
        elif current is not None and line.strip() and not line.lstrip().startswith(">>>"):
            current += " " + line.strip()
        elif current is not None and not line.strip():
            out.append(current)
            current = None
    if current:
        out.append(current)
    return out


def _objects(tree, module):
    """(qualified name, docstring) of the module and every class/function in it."""
    yield module, ast.get_docstring(tree, clean=True) or ""
    stack = [(node, module) for node in tree.body]
    while stack:
        node, prefix = stack.pop(0)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            name = f"{prefix}.{node.name}"
            yield name, ast.get_docstring(node, clean=True) or ""
            if isinstance(node, ast.ClassDef):
                stack.extend((child, name) for child in node.body)


def inventory(package=PACKAGE):
    """Every citation of the package's docstrings, one dict per ``References`` entry."""
    rows = []
    for path in sorted(package.rglob("*.py")):
        rel = path.relative_to(package.parent).with_suffix("")
        module = ".".join(p for p in rel.parts if p != "__init__")
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for name, doc in _objects(tree, module):
            if "References" not in doc:
                continue
            summary = doc.strip().splitlines()[0] if doc.strip() else ""
            for entry in _references(doc):
                m = _KEY.match(entry)
                key, text = (m.group(1), m.group(2)) if m else ("?", entry)
                locs = [x.group(0).strip() for x in LOCATOR.finditer(text)]
                rows.append(
                    {
                        "object": name,
                        "key": key,
                        "locators": locs,
                        "entry": text,
                        "summary": summary,
                    }
                )
    return rows


def normalise(locator):
    """Spell a locator one way: ``Eq. (3.13)`` → ``Eq. 3.13``, ``Thm. 1`` → ``Theorem 1``."""
    loc = locator.replace("–", "-").replace("(", "").replace(")", "")
    for short, long in (
        (r"^Eqs?\.|^Equations?", "Eq."),
        (r"^Thm\.|^Theorems?", "Theorem"),
        (r"^Lemmas?", "Lemma"),
        (r"^Prop\.|^Propositions?", "Proposition"),
        (r"^Cor\.|^Corollary", "Corollary"),
        (r"^Def\.|^Definitions?", "Definition"),
        (r"^Alg\.|^Algorithms?", "Algorithm"),
        (r"^Procedures?", "Procedure"),
        (r"^Sect?\.|^Sections?|^§", "Section"),
        (r"^Ch\.|^Chapters?", "Chapter"),
        (r"^App\.|^Appendix", "Appendix"),
        (r"^[Pp]roblem", "Problem"),
        (r"^Figs?\.|^Figures?", "Fig."),
        (r"^Tables?", "Table"),
        (r"^Remarks?", "Remark"),
        (r"^[Aa]bstract", "Abstract"),
    ):
        if re.match(short, loc):
            loc = re.sub(short, long, loc)
            break
    return re.sub(r"\s+", " ", loc).strip()


def load_status(path=STATUS):
    """Read the verification record: ``{(key, locator): row}`` from ``citation_status.csv``."""
    if not path.exists():
        return {}
    with path.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(line for line in fh if not line.startswith("#")))
    for r in rows:
        if None in r or None in r.values():
            raise ValueError(
                f"{path.name}: row {r.get('key')} {r.get('locator')} does not have exactly the "
                "five fields key,locator,status,source,evidence (quote a field with a comma)"
            )
    return {(r["key"], normalise(r["locator"])): r for r in rows}


def _cell(text):
    return text.replace("|", "\\|").replace("\n", " ")


def write_page(out=DOCS / "citations.md"):
    """Write the citations page: each formula, its locator and whether the locator was checked."""
    rows, status = inventory(), load_status()
    lines = [
        "# Citations and their verification",
        "",
        "Every `References` entry of a docstring in `geodln/`, read from the source on each",
        "build (`docs/citations.py`). For each paper locator (equation, theorem, section, ...)",
        "the *status* column says whether it was checked against the paper's own text",
        "(`docs/citation_status.csv` records the source consulted and the words matched):",
        "",
        "- **verified**: the numbered item was read in the paper's own text and states the formula",
        "  or claim the docstring attributes to it;",
        "- **partial**: the locator exists (its heading or number was seen) but only part of the",
        "  claim was read: the item's words without its formula (a text whose displays are",
        "  placeholders), or the claim in the paper's abstract only;",
        "- **secondary**: the number comes from a third-party reading of the paper that names it;",
        "  the paper's own text was not reached;",
        "- **unverified**: the paper's text (or the relevant part) could not be reached (books,",
        "  papers without an HTML or mirrored full text); the locator is the docstring author's",
        "  reading and is **not checked**;",
        "- **not recorded**: the locator has no entry in the record yet.",
        "",
    ]
    counts = {}
    by_key = {}
    for r in rows:
        by_key.setdefault(r["key"], []).append(r)
    table = []
    for key in sorted(by_key):
        table += [f"## {key}", "", "| object | locator | status | what is cited |"]
        table += ["|---|---|---|---|"]
        for r in by_key[key]:
            locs = r["locators"] or ["(none)"]
            stats = []
            for loc in locs:
                if loc == "(none)":
                    s = "no locator (an overview, a dataset or a method, not a formula)"
                else:
                    s = status.get((key, normalise(loc)), {}).get("status", "not recorded")
                counts[s.split(" (")[0]] = counts.get(s.split(" (")[0], 0) + 1
                stats.append(f"{normalise(loc)}: {s}")
            table.append(
                f"| `{r['object']}` | {_cell(', '.join(normalise(x) for x in locs))} "
                f"| {_cell('; '.join(stats))} | {_cell(r['entry'])} |"
            )
        table.append("")
    summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
    lines += [f"Locator citations: {summary}.", ""]
    lines += ["| key | citations | verified | partial | secondary | unverified |"]
    lines += ["|---|---|---|---|---|---|"]
    for key in sorted(by_key):
        per = {}
        for r in by_key[key]:
            for loc in r["locators"]:
                st = status.get((key, normalise(loc)), {}).get("status", "not recorded")
                per[st] = per.get(st, 0) + 1
        cells = " | ".join(str(per.get(s, 0)) for s in STATUSES)
        lines.append(f"| [{key}](#{key.lower()}) | {sum(per.values())} | {cells} |")
    lines.append("")
    lines += ["## Record of the checks", ""]
    lines += ["| key | locator | status | source | matched text or reason |"]
    lines += ["|---|---|---|---|---|"]
    for (key, loc), r in sorted(status.items()):
        lines.append(
            f"| {key} | {_cell(loc)} | {r['status']} | {_cell(r.get('source', ''))} "
            f"| {_cell(r.get('evidence', ''))} |"
        )
    lines.append("")
    text = "\n".join(lines + table)
    if not out.exists() or out.read_text(encoding="utf-8") != text:
        out.write_text(text, encoding="utf-8")
    return rows


def main(argv=None):
    """Print the inventory: object, key, normalised locators, entry text (tab-separated)."""
    status = load_status()
    for r in inventory():
        locs = [normalise(x) for x in r["locators"]] or ["(none)"]
        st = [status.get((r["key"], x), {}).get("status", "-") for x in locs]
        print(r["object"], r["key"], " | ".join(locs), ",".join(st), r["entry"], sep="\t")


if __name__ == "__main__":
    main(sys.argv[1:])
