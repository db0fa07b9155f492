"""Cardinality estimation: rows (an interval with a point estimate) and bytes for every plan node.

Each estimate says where it came from: ``footer``/``arrow``/``sample`` (source statistics), ``exact``
(derived without guessing: a limit, a global aggregate, a cross join), ``min/max`` (a range predicate's
selectivity from column bounds), ``distinct`` (group or join keys' distinct counts), ``estimate``
(derived from estimates) and ``default`` (nothing known: a wide interval).
"""

from __future__ import annotations

import datetime as _dt
import decimal
import math
from collections.abc import Callable
from dataclasses import dataclass

import pyarrow as pa

from unistack.plan import exprs as ex
from unistack.plan import nodes as pn
from unistack.planner import stats as st

EXACT_SOURCES = ("footer", "arrow", "exact")
DEFAULT_SELECTIVITY = (0.05, 0.25, 0.9)  # (low, point, high) of a predicate nothing is known about


@dataclass(frozen=True)
class Rows:
    """An estimated row count: ``low <= point <= high``, and the estimate's source."""

    low: float
    point: float
    high: float
    source: str

    def scale(self, lo: float, point: float, hi: float, source: str | None = None) -> Rows:
        return Rows(self.low * lo, self.point * point, self.high * hi, source or self.source)

    def text(self) -> str:
        """Compact text: ``6.0M`` or ``11.6k-30k``.

        Examples
        --------
        >>> Rows(11600, 20000, 30000, "estimate").text()
        '11.6k-30.0k'
        """
        if _fmt(self.low) == _fmt(self.high):
            return _fmt(self.point)
        return f"{_fmt(self.low)}-{_fmt(self.high)}"


def _fmt(n: float) -> str:
    n = float(n)
    for div, unit in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if n >= div:
            v = n / div
            return f"{v:.1f}{unit}" if v < 100 else f"{v:.0f}{unit}"
    return f"{n:.0f}"


@dataclass(frozen=True)
class NodeEstimate:
    """Rows and average row width (bytes) of one node's output."""

    rows: Rows
    width: float

    def bytes(self, which: str = "point") -> float:
        return float(getattr(self.rows, which)) * self.width


class Estimates:
    """Estimates for every node of a plan (by node identity); see :func:`estimate`."""

    def __init__(self, plan: pn.PlanNode) -> None:
        self.plan = plan
        self._by_id: dict[int, NodeEstimate] = {}

    def __getitem__(self, node: pn.PlanNode) -> NodeEstimate:
        return self._by_id[id(node)]

    def set(self, node: pn.PlanNode, est: NodeEstimate) -> None:
        self._by_id[id(node)] = est

    def __contains__(self, node: pn.PlanNode) -> bool:
        return id(node) in self._by_id

    def annotate(self) -> Callable[[pn.PlanNode], str]:
        """A ``plan_text`` annotation function: estimated rows and source per node."""
        return lambda node: f"\t{self[node].rows.text()}\t{self[node].rows.source}"


def estimate(plan: pn.PlanNode) -> Estimates:
    """Estimate rows and widths of every node of ``plan``.

    Examples
    --------
    >>> import unistack as us
    >>> df = us.from_dict({"a": list(range(100))}).filter(us.col("a") < 10)
    >>> from unistack.planner.optimize import optimize
    >>> plan = optimize(df.plan)
    >>> r = estimate(plan)[plan].rows
    >>> r.source, r.low <= 10 <= r.high
    ('min/max', True)
    """
    out = Estimates(plan)
    with st.memo_scope():
        _visit(plan, out)
    return out


def _visit(node: pn.PlanNode, acc: Estimates) -> NodeEstimate:
    if node in acc:
        return acc[node]
    for child in node.children():
        _visit(child, acc)
    try:
        est = _estimate_node(node, acc)
    except Exception:  # estimates are best effort: an unexpected type or statistic never breaks planning
        kids = node.children()
        rows = acc[kids[0]].rows if kids else Rows(*_default_rows(), "default")
        est = NodeEstimate(Rows(rows.low, rows.point, rows.high, "default"), schema_width(node.schema))
    acc.set(node, est)
    return est


def schema_width(schema: pa.Schema, widths: dict[str, float] | None = None) -> float:
    """Average bytes per row of ``schema``, using known column widths where given."""
    widths = widths or {}
    return sum(widths.get(f.name, st.type_width(f.type)) for f in schema) or 1.0


def _estimate_node(node: pn.PlanNode, acc: Estimates) -> NodeEstimate:
    match node:
        case pn.Scan():
            return _scan(node)
        case pn.Filter(input=child, predicate=pred):
            inp = acc[child]
            lo, pt, hi, src = selectivity(pred, child)
            return NodeEstimate(_derive(inp.rows, lo, pt, hi, src), inp.width)
        case pn.Project(input=child, exprs=exprs):
            inp = acc[child]
            return NodeEstimate(inp.rows, _project_width(child, exprs, inp))
        case pn.Aggregate(input=child, keys=keys):
            inp = acc[child]
            width = schema_width(node.schema)
            if not keys:
                return NodeEstimate(Rows(1, 1, 1, "exact"), width)
            return NodeEstimate(_groups(child, keys, inp.rows), width)
        case pn.Distinct(input=child, subset=subset):
            inp = acc[child]
            names = subset or tuple(child.schema.names)
            keys = tuple(ex.Column(n) for n in names)
            return NodeEstimate(_groups(child, keys, inp.rows), inp.width)
        case pn.Join():
            return _join(node, acc)
        case pn.Sort(input=child) | pn.MapBatches(input=child):
            inp = acc[child]
            if isinstance(node, pn.MapBatches):
                return NodeEstimate(Rows(inp.rows.low, inp.rows.point, inp.rows.high, inp.rows.source),
                                    schema_width(node.schema))
            return inp
        case pn.Limit(input=child, n=n):
            inp = acc[child]
            return NodeEstimate(_limit(inp.rows, n), inp.width)
        case pn.Union(inputs=inputs):
            parts = [acc[i] for i in inputs]
            rows = Rows(sum(p.rows.low for p in parts), sum(p.rows.point for p in parts),
                        sum(p.rows.high for p in parts), _combine_source([p.rows.source for p in parts]))
            total = sum(p.rows.point for p in parts) or 1.0
            width = sum(p.width * p.rows.point for p in parts) / total if total else parts[0].width
            return NodeEstimate(rows, width or parts[0].width)
    kids = node.children()
    if kids:
        return acc[kids[0]]
    return NodeEstimate(Rows(*_default_rows(), "default"), schema_width(node.schema))


def _default_rows() -> tuple[float, float, float]:
    lo, hi = st.DEFAULT_ROWS
    return float(lo), math.sqrt(lo * hi), float(hi)


def _combine_source(sources: list[str]) -> str:
    if all(s in EXACT_SOURCES for s in sources):
        return sources[0] if len(set(sources)) == 1 else "exact"
    return "default" if "default" in sources else "estimate"


def _derive(rows: Rows, lo: float, pt: float, hi: float, src: str) -> Rows:
    if lo == pt == hi == 1.0:
        return rows
    if lo == pt == hi == 0.0:
        return Rows(0, 0, 0, "exact" if src == "min/max" and rows.source in EXACT_SOURCES else src)
    if rows.source == "default":
        src = "default"
    return Rows(rows.low * lo, rows.point * pt, rows.high * hi, src)


def _limit(rows: Rows, n: int) -> Rows:
    exact = rows.source in EXACT_SOURCES or rows.low >= n
    return Rows(min(rows.low, n), min(rows.point, n), min(rows.high, n),
                "exact" if exact else rows.source)


def _scan(node: pn.Scan) -> NodeEstimate:
    s = st.source_stats(node.source)
    rows = Rows(s.rows_low, s.rows, s.rows_high, s.source)
    if node.filters:
        parts = [c for f in node.filters for c in _conjuncts(f)]
        lo, pt, hi, src = _conjunction(parts, node, pushed=True)
        rows = _derive(rows, lo, pt, hi, src)
    if node.limit is not None:
        rows = _limit(rows, node.limit)
    widths = {f.name: s.column_width(f.name, f.type) for f in node.schema}
    return NodeEstimate(rows, schema_width(node.schema, widths))


def _project_width(child: pn.PlanNode, exprs: tuple[ex.ExprNode, ...], inp: NodeEstimate) -> float:
    in_schema = child.schema
    in_width = schema_width(in_schema) or 1.0
    ratio = inp.width / in_width  # how much wider than the type defaults the real columns are
    total = 0.0
    for e in exprs:
        base = ex.strip_alias(e)
        if isinstance(base, ex.Column) and base.name in in_schema.names:
            total += st.type_width(in_schema.field(base.name).type) * ratio
        else:
            total += st.type_width(e.dtype) if e.dtype is not None else 8.0
    return total or 1.0


# -- column statistics through the plan --------------------------------------------------------------------

def _passed_through(exprs: tuple[ex.ExprNode, ...], name: str) -> str | None:
    """The input column that output ``name`` passes through unchanged, or None (computed, or absent)."""
    for e in exprs:
        if ex.output_name(e) == name:
            base = ex.strip_alias(e)
            return base.name if isinstance(base, ex.Column) else None
    return None

def _origin(node: pn.PlanNode, name: str) -> tuple[pn.Scan, str] | None:
    """The scan and the source column a column of ``node`` is a plain copy of (through renames)."""
    while True:
        match node:
            case pn.Scan():
                return (node, name) if name in node.source.schema.names else None
            case pn.Filter(input=child) | pn.Sort(input=child) | pn.Limit(input=child) | pn.Distinct(input=child):
                node = child
            case pn.Project(input=child, exprs=exprs) | pn.Aggregate(input=child, keys=exprs):
                source = _passed_through(exprs, name)
                if source is None:
                    return None
                node, name = child, source
            case pn.Join():
                for c in node.output_columns:
                    if c.name == name:
                        node = node.right if c.side == "right" else node.left
                        name = c.source
                        break
                else:
                    return None
            case _:
                return None


def _column_stats(node: pn.PlanNode, name: str) -> tuple[st.ColumnStats | None, float]:
    """Column statistics of a column of ``node`` (from its source) and the source's row count."""
    origin = _origin(node, name)
    if origin is None:
        return None, 0.0
    scan, col = origin
    return st.column_stats(scan.source, col), st.source_stats(scan.source).rows


def distinct_values(node: pn.PlanNode, name: str, rows: Rows) -> st.Distinct | None:
    """Distinct values of column ``name`` of ``node`` (which has ``rows`` rows), if it can be traced."""
    origin = _origin(node, name)
    if origin is None:
        return None
    scan, col = origin
    src_rows = st.source_stats(scan.source).rows
    d = st.distinct_count(scan.source, col, src_rows)
    if d is None:
        return None
    # A subset of the rows holds at most as many values; keep at least a fraction of them.
    frac = min(1.0, rows.point / src_rows) if src_rows else 1.0
    low = min(d.low, max(rows.low, 1.0)) if frac < 1 else d.low
    return st.Distinct(min(low, d.low), min(d.high, max(rows.high, 1.0)),
                       min(d.point, max(rows.point, 1.0)), d.source)


# -- predicates --------------------------------------------------------------------------------------------
def selectivity(pred: ex.ExprNode, node: pn.PlanNode, pushed: bool = False
                ) -> tuple[float, float, float, str]:
    """Fraction of rows of ``node`` for which ``pred`` holds: ``(low, point, high, source)``.

    Range predicates use the column's min/max (assuming values spread evenly between them), equality
    uses distinct counts, ``is_null`` uses null counts; anything else gets :data:`DEFAULT_SELECTIVITY`.

    Examples
    --------
    >>> import pyarrow as pa
    >>> from unistack.plan.nodes import InMemorySource, Scan
    >>> from unistack.plan.exprs import BinaryOp, Column, Literal
    >>> scan = Scan(InMemorySource(pa.table({"a": list(range(100))})))
    >>> lo, pt, hi, src = selectivity(BinaryOp("<", Column("a"), Literal(25)), scan)
    >>> round(pt, 2), src
    (0.25, 'min/max')
    """
    match pred:
        case ex.Literal(value=value):
            return (1.0, 1.0, 1.0, "exact") if value is True else (0.0, 0.0, 0.0, "exact")
        case ex.BinaryOp(op="&"):
            return _conjunction(_conjuncts(pred), node, pushed)
        case ex.BinaryOp(op="|", left=a, right=b):
            la, pa_, ha, sa = selectivity(a, node, pushed)
            lb, pb, hb, sb = selectivity(b, node, pushed)
            return max(la, lb), min(1.0, pa_ + pb - pa_ * pb), min(1.0, ha + hb), _pick_source(sa, sb)
        case ex.UnaryOp(op="not", operand=inner):
            lo, pt, hi, src = selectivity(inner, node, pushed)
            return 1.0 - hi, 1.0 - pt, 1.0 - lo, src
        case ex.BinaryOp(op=op, left=left, right=right) if op in ex.COMPARISON_OPS:
            col, lit, flipped = _col_lit(left, right)
            if col is not None and lit is not None:
                if flipped:
                    op = {"<": ">", "<=": ">=", ">": "<", ">=": "<="}.get(op, op)
                return _compare(node, col, op, lit)
        case ex.Call(name="is_null", args=(ex.Column(name=name),)):
            return _null_fraction(node, name, False)
        case ex.Call(name="is_not_null", args=(ex.Column(name=name),)):
            return _null_fraction(node, name, True)
        case ex.Call(name="is_in", args=(ex.Column(name=name),), params=params):
            values = params[0] if params and isinstance(params[0], tuple) else params
            d = _source_distinct(node, name)
            if d is not None and d.point > 0:
                k = len(values)
                return (min(1.0, k / d.high), min(1.0, k / d.point), min(1.0, k / max(d.low, 1.0)), "distinct")
    return (*DEFAULT_SELECTIVITY, "default")


def _conjuncts(pred: ex.ExprNode) -> list[ex.ExprNode]:
    if isinstance(pred, ex.BinaryOp) and pred.op == "&":
        return _conjuncts(pred.left) + _conjuncts(pred.right)
    return [pred]


def _conjunction(parts: list[ex.ExprNode], node: pn.PlanNode, pushed: bool) -> tuple[float, float, float, str]:
    """AND: range bounds on one column are merged into one range (``a >= x AND a < y``); the rest are
    combined as independent."""
    ranges: dict[str, list[tuple[str, object]]] = {}
    others: list[ex.ExprNode] = []
    for p in parts:
        if isinstance(p, ex.BinaryOp) and p.op in ("<", "<=", ">", ">="):
            col, lit, flipped = _col_lit(p.left, p.right)
            if col is not None and lit is not None and _as_number(lit) is not None:
                op = {"<": ">", "<=": ">=", ">": "<", ">=": "<="}[p.op] if flipped else p.op
                ranges.setdefault(col, []).append((op, lit))
                continue
        others.append(p)
    results = []
    for col, bounds in ranges.items():
        results.append(_range(node, col, bounds) if len(bounds) > 1 else _compare(node, col, *bounds[0]))
    results += [selectivity(p, node, pushed) for p in others]
    lo, pt, hi, src = results[0]
    for lb, pb, hb, sb in results[1:]:
        lo, pt, hi, src = lo * lb, pt * pb, min(hi, hb), _pick_source(src, sb)
    return lo, pt, hi, src


def _discrete(v: object) -> bool:
    return (isinstance(v, int) and not isinstance(v, bool)) or (isinstance(v, _dt.date)
                                                                and not isinstance(v, _dt.datetime))


def _share(low: float, high: float, lo_v: float, hi_v: float, discrete: bool) -> float:
    """Share of the values between ``lo_v`` and ``hi_v`` that lie in ``[low, high]``."""
    if discrete:
        return (high - low + 1) / (hi_v - lo_v + 1)
    return 1.0 if hi_v <= lo_v else (high - low) / (hi_v - lo_v)


def _range(node: pn.PlanNode, name: str, bounds: list[tuple[str, object]]) -> tuple[float, float, float, str]:
    """Selectivity of range bounds on one column, assuming values spread evenly between min and max
    (integers and dates count whole values)."""
    cs, rows = _column_stats(node, name)
    lo_v = _as_number(cs.min) if cs is not None else None
    hi_v = _as_number(cs.max) if cs is not None else None
    if cs is None or lo_v is None or hi_v is None:
        return (*DEFAULT_SELECTIVITY, "default")
    discrete = _discrete(cs.min) and _discrete(cs.max)
    low, high = lo_v, hi_v
    for op, lit in bounds:
        v = _as_number(lit)
        assert v is not None
        if discrete:  # strict bounds become inclusive ones on whole values
            if op == ">":
                v = math.floor(v) + 1
            elif op == ">=":
                v = math.ceil(v)
            elif op == "<":
                v = math.ceil(v) - 1
            else:
                v = math.floor(v)
        if op in (">", ">="):
            low = max(low, v)
        else:
            high = min(high, v)
    nonnull = 1.0 if cs.null_count is None or rows <= 0 else max(0.0, 1.0 - cs.null_count / rows)
    if high < low:
        return (0.0, 0.0, 0.0, "min/max") if cs.exact_bounds else (0.0, 0.0, 0.05, "min/max")
    frac = _share(low, high, lo_v, hi_v, discrete) * nonnull
    if frac >= nonnull:
        return (nonnull, nonnull, nonnull, "min/max") if cs.exact_bounds else (0.5 * nonnull, nonnull, nonnull,
                                                                                "min/max")
    return 0.5 * frac, frac, min(nonnull, 1.5 * frac + 0.01), "min/max"


def _pick_source(a: str, b: str) -> str:
    if "default" in (a, b):
        return "default"
    return a if a == b else "estimate"


def _col_lit(left: ex.ExprNode, right: ex.ExprNode) -> tuple[str | None, object, bool]:
    left, right = _strip_cast(left), _strip_cast(right)
    if isinstance(left, ex.Column) and isinstance(right, ex.Literal):
        return left.name, right.value, False
    if isinstance(right, ex.Column) and isinstance(left, ex.Literal):
        return right.name, left.value, True
    return None, None, False


def _strip_cast(e: ex.ExprNode) -> ex.ExprNode:
    while isinstance(e, (ex.Cast, ex.Alias)):
        e = e.operand
    return e


def _source_distinct(node: pn.PlanNode, name: str) -> st.Distinct | None:
    origin = _origin(node, name)
    if origin is None:
        return None
    scan, col = origin
    return st.distinct_count(scan.source, col, st.source_stats(scan.source).rows)


def _null_fraction(node: pn.PlanNode, name: str, negate: bool) -> tuple[float, float, float, str]:
    cs, rows = _column_stats(node, name)
    if cs is None or cs.null_count is None or rows <= 0:
        return (*DEFAULT_SELECTIVITY, "default") if not negate else (0.1, 0.75, 0.95, "default")
    f = min(1.0, cs.null_count / rows)
    f = 1.0 - f if negate else f
    return f, f, f, "footer" if cs.exact_bounds else "sample"


def _as_number(v: object) -> float | None:
    if isinstance(v, bool):
        return float(v)
    if isinstance(v, (int, float, decimal.Decimal)):
        return float(v)
    if isinstance(v, _dt.datetime):
        return v.timestamp() if v.tzinfo else v.replace(tzinfo=_dt.UTC).timestamp()
    if isinstance(v, _dt.date):
        return float(v.toordinal())
    return None


def _compare(node: pn.PlanNode, name: str, op: str, value: object) -> tuple[float, float, float, str]:
    cs, rows = _column_stats(node, name)
    if cs is None:
        return (*DEFAULT_SELECTIVITY, "default")
    nonnull = 1.0
    if cs.null_count is not None and rows > 0:
        nonnull = max(0.0, 1.0 - cs.null_count / rows)
    if op in ("==", "!="):
        d = _source_distinct(node, name)
        lo_v, hi_v = _as_number(cs.min), _as_number(cs.max)
        v = _as_number(value)
        outside = cs.exact_bounds and v is not None and lo_v is not None and hi_v is not None \
            and (v < lo_v or v > hi_v)
        if outside:
            return (0.0, 0.0, 0.0, "min/max") if op == "==" else (nonnull, nonnull, nonnull, "min/max")
        if d is None or d.point <= 0:
            return (*DEFAULT_SELECTIVITY, "default") if op == "==" else (0.5, 0.9, 1.0, "default")
        eq = (nonnull / d.high, nonnull / d.point, min(1.0, nonnull / max(d.low, 1.0)))
        if op == "==":
            return (*eq, "distinct")
        return (max(0.0, nonnull - eq[2]), max(0.0, nonnull - eq[1]), max(0.0, nonnull - eq[0]), "distinct")
    lo_v, hi_v, v = _as_number(cs.min), _as_number(cs.max), _as_number(value)
    if lo_v is None or hi_v is None or v is None:
        if isinstance(value, str) and isinstance(cs.min, str) and isinstance(cs.max, str):
            return _string_range(cs, op, value, nonnull)
        return (*DEFAULT_SELECTIVITY, "default")
    return _range(node, name, [(op, value)])


def _holds(op: str, a: float, b: float) -> bool:
    return {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op]


def _string_range(cs: st.ColumnStats, op: str, value: str, nonnull: float) -> tuple[float, float, float, str]:
    lo, hi = str(cs.min), str(cs.max)
    below = value <= lo if op in ("<", "<=") else value >= hi
    if below and cs.exact_bounds and ((op in ("<", "<=") and value < lo) or (op in (">", ">=") and value > hi)):
        return 0.0, 0.0, 0.0, "min/max"
    return (*DEFAULT_SELECTIVITY, "default")


# -- groups and joins --------------------------------------------------------------------------------------
def _groups(child: pn.PlanNode, keys: tuple[ex.ExprNode, ...], rows: Rows) -> Rows:
    lo, pt, hi = 1.0, 1.0, 1.0
    known = True
    for k in keys:
        base = ex.strip_alias(k)
        d = distinct_values(child, base.name, rows) if isinstance(base, ex.Column) else None
        if d is None:
            known = False
            break
        lo, pt, hi = max(lo, d.low), pt * max(d.point, 1.0), hi * max(d.high, 1.0)
    if not known:
        # Nothing known about a key: between one group and one group per row.
        return Rows(1.0, max(1.0, math.sqrt(rows.point)), max(rows.high, 1.0), "default")
    # Several keys: at least the largest single key's count, at most the product (capped by the rows).
    cap_lo, cap_pt, cap_hi = max(rows.low, 1.0), max(rows.point, 1.0), max(rows.high, 1.0)
    if len(keys) > 1:
        pt = min(pt, cap_pt)
    return Rows(min(lo, cap_lo), min(pt, cap_pt), min(hi, cap_hi), "distinct")


def _join(node: pn.Join, acc: Estimates) -> NodeEstimate:
    left, right = acc[node.left], acc[node.right]
    L, R = left.rows, right.rows
    lw, rw = left.width, right.width
    width = lw if node.how in ("semi", "anti") else lw + rw
    if node.how == "cross":
        src = "exact" if L.source in EXACT_SOURCES and R.source in EXACT_SOURCES else "estimate"
        return NodeEstimate(Rows(L.low * R.low, L.point * R.point, L.high * R.high, src), width)
    # Distinct counts of the (first) key on each side.
    dl = distinct_values(node.left, node.left_on[0], L) if node.left_on else None
    dr = distinct_values(node.right, node.right_on[0], R) if node.right_on else None
    if dl is not None and dr is not None:
        # |L|·|R| / max(d_l, d_r): each key value of the side with fewer values meets its matches.
        def inner(lr: float, rr: float, a: float, b: float) -> float:
            return lr * rr / max(a, b, 1.0)

        # The high end uses the point distinct counts: their low ends (values seen in a sample) would
        # turn every sampled key into a many-to-many join.
        ins = Rows(inner(L.low, R.low, dl.high, dr.high), inner(L.point, R.point, dl.point, dr.point),
                   inner(L.high, R.high, dl.point, dr.point) * 1.5, "distinct")
        ins = Rows(ins.low, ins.point, min(ins.high, L.high * R.high), "distinct")
        match_l = (min(1.0, dr.low / max(dl.high, 1.0)), min(1.0, dr.point / max(dl.point, 1.0)),
                   min(1.0, dr.high / max(dl.low, 1.0)))
    else:
        ins = Rows(min(L.low, R.low) * 0.1, max(L.point, R.point), max(L.high, R.high) * 2, "default")
        match_l = (0.1, 0.5, 1.0)
    match node.how:
        case "inner":
            rows = ins
        case "left":
            rows = Rows(max(ins.low, L.low), max(ins.point, L.point), max(ins.high, L.high), ins.source)
        case "right":
            rows = Rows(max(ins.low, R.low), max(ins.point, R.point), max(ins.high, R.high), ins.source)
        case "full":
            rows = Rows(max(ins.low, L.low, R.low), max(ins.point, L.point, R.point),
                        ins.high + L.high + R.high, ins.source)
        case "semi":
            rows = Rows(L.low * match_l[0], L.point * match_l[1], L.high * match_l[2], ins.source)
        case _:  # anti
            rows = Rows(L.low * (1 - match_l[2]), L.point * (1 - match_l[1]), L.high * (1 - match_l[0]),
                        ins.source)
    return NodeEstimate(rows, width)
