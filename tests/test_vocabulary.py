"""The output words live once, in `collections_engine.vocabulary` (issue 23): the tuples agree with
the names, and no module spells a decision, an ending or a hold kind as a literal where it compares,
stores or lists one (read from the source with ast)."""

from __future__ import annotations

import ast
from pathlib import Path

import collections_engine
from collections_engine import schema, vocabulary as v

ROOT = Path(collections_engine.__file__).parent

DECISION_WORDS = set(v.DECISIONS) | set(v.ENDINGS)
HOLD_WORDS = set(v.HOLD_KINDS)
# The generator draws its holds in its own order (its probabilities are indexed by it): a world
# apart from the engine, on purpose.
ALLOWED = {("synth/lifecycle.py", w) for w in HOLD_WORDS}


def test_the_tuples_are_the_names():
    assert v.DECISIONS == (v.KEPT, v.PLACED, v.ASSIGNED, v.FRAUD_HOLD, v.HELD, v.NOT_WORKED)
    assert len(set(v.DECISIONS)) == len(v.DECISIONS)
    assert set(v.NEW_DECISIONS) == set(v.DECISIONS) - {v.KEPT, v.NOT_WORKED}
    assert v.HOLD_KINDS[0] == v.LEGAL_HOLD and len(set(v.HOLD_KINDS)) == 5
    assert schema.HOLD_KINDS == v.HOLD_KINDS
    assert v.ENDINGS[:2] == (v.RECALLED, v.RETURNED) and len(set(v.ENDINGS)) == 4


def _words(node: ast.AST) -> list[ast.Constant]:
    return [n for n in ast.walk(node) if isinstance(n, ast.Constant) and isinstance(n.value, str)]


def literal_uses(source: str) -> list[tuple[int, str]]:
    """(line, word) of every vocabulary word written as a literal where it is a value: an operand
    of a comparison, a value stored, an argument of where/full/isin/equal, or a member of a tuple or
    list of such words. A hold kind counts only beside a name with 'hold' in it (`legal` is also
    a queue kind, a configuration word). Field names (dict keys, subscripts) are not values."""
    out = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Compare):
            text = ast.unparse(node)
            for c in _words(node):
                if c.value in DECISION_WORDS or (c.value in HOLD_WORDS and "hold" in text):
                    out.append((c.lineno, c.value))
        elif isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
            if isinstance(node.value, ast.Constant) and node.value.value in DECISION_WORDS | HOLD_WORDS:
                out.append((node.value.lineno, node.value.value))
        elif isinstance(node, ast.Call):
            f = node.func
            name = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", "")
            if name in ("where", "full", "isin", "equal"):
                held = "hold" in ast.unparse(node)
                out += [(c.lineno, c.value) for a in node.args for c in _words(a)
                        if c.value in DECISION_WORDS or (held and c.value in HOLD_WORDS)]
        elif isinstance(node, (ast.Tuple, ast.List, ast.Set)) and len(node.elts) > 1:
            vals = [e.value for e in node.elts if isinstance(e, ast.Constant)]
            if len(vals) == len(node.elts) and all(w in DECISION_WORDS | HOLD_WORDS for w in vals):
                out += [(e.lineno, e.value) for e in node.elts]
    return sorted(set(out))


def test_the_rule_sees_literals():
    src = ('c = pc.equal(hold, "legal")\na = d == "kept"\nb = np.where(v, "placed", "assigned")\nx.decision[i] = "held"\n'
           'ok = hold == "legal"\nq = ("recalled", "returned")\nk = kind == "legal"\ns = {"kept": 1}\n')
    assert [w for _, w in literal_uses(src)] == ["legal", "kept", "assigned", "placed", "held", "legal",
                                                 "recalled", "returned"]


def test_no_module_spells_the_words():
    found = []
    for p in sorted(ROOT.rglob("*.py")):
        rel = p.relative_to(ROOT).as_posix()
        if rel == "vocabulary.py":
            continue
        found += [f"{rel}:{line} {w!r}" for line, w in literal_uses(p.read_text()) if (rel, w) not in ALLOWED]
    assert found == []
