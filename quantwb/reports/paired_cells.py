"""Table cells and preamble lines of the paired statistics: Δ against the reference, answer flips, noise floor."""

from __future__ import annotations

from collections.abc import Callable

from quantwb.reports.compare import Report
from quantwb.reports.mcnemar import Flips, FlipSection
from quantwb.reports.paired import PAIRED, Interval, PairedSection
from quantwb.reports.variants import VariantRow

NOT_AVAILABLE = "n/a"
REFERENCE = "ref"
SIGNIFICANT = "*"  # the interval excludes 0

# paired quantity -> column header (before " vs REFERENCE")
PAIRED_HEADERS = {"kld_mean": "Δ KLD", "ln_ppl": "Δ ln PPL", "same_top_pct": "Δ same top pp"}


def interval_text(interval: Interval) -> str:
    """`+0.0412 [+0.031, +0.052]*`: value, interval, and * when the interval excludes 0."""
    mark = SIGNIFICANT if interval.excludes_zero else ""
    return f"{interval.value:+.3g} [{interval.lo:+.3g}, {interval.hi:+.3g}]{mark}"


def paired_cell(section: PairedSection, name: str) -> Callable[[VariantRow], str]:
    def cell(row: VariantRow) -> str:
        if row.variant.name == section.against:
            return REFERENCE
        paired = section.rows.get(row.variant.name)
        if paired is None or name not in paired.intervals:
            return NOT_AVAILABLE
        return interval_text(paired.intervals[name])

    return cell


def flips_cell(section: FlipSection, key: str, text: Callable[[Flips], str]) -> Callable[[VariantRow], str]:
    """A cell of the variant's flips on `key`, written by `text`."""
    def cell(row: VariantRow) -> str:
        if row.variant.name == section.against:
            return REFERENCE
        found = section.rows.get(row.variant.name, {}).get(key)
        return NOT_AVAILABLE if found is None else text(found)

    return cell


def _flips_pct(found: Flips) -> str:
    """`6.0 (3↓ 0↑)`: % of documents whose answer flipped, right→wrong ↓ and wrong→right ↑."""
    return f"{found.flips_pct:.1f} ({found.right_to_wrong}↓ {found.wrong_to_right}↑)"


def paired_columns(report: Report) -> list[tuple[str, Callable[[VariantRow], str]]]:
    """(header, cell) of the paired Δ columns; empty when the report has no reference."""
    section = report.paired
    if section is None:
        return []
    return [(f"{PAIRED_HEADERS[name]} vs {section.against}", paired_cell(section, name)) for name in PAIRED]


def flip_columns(report: Report, key: str) -> list[tuple[str, Callable[[VariantRow], str]]]:
    """(header, cell) of the flips % and McNemar p columns of one task column."""
    section = report.flips
    if section is None or not any(key in flips for flips in section.rows.values()):
        return []
    task = key.partition(".")[0]
    return [(f"{task} flips %", flips_cell(section, key, _flips_pct)),
            (f"{task} p", flips_cell(section, key, lambda found: f"{found.p_value:.2g}"))]


def statistics_lines(report: Report) -> list[str]:
    """Method, reference and every n/a with its reason; then the noise floor."""
    lines = []
    if report.reference_note:
        lines.append(f"Paired columns: {NOT_AVAILABLE}, {report.reference_note}")
    if section := report.paired:
        lines.append(f"Δ columns: each variant minus {section.against} on the same positions, {section.method}; "
                     f"{SIGNIFICANT} = the interval excludes 0")
        lines += _grouped(f"Δ columns {NOT_AVAILABLE}", {name: row.reason for name, row in section.rows.items()
                                                         if row.reason and name != section.against})
    if flips := report.flips:
        lines.append(f"Flips: documents whose 0/1 score differs from {flips.against}'s (↓ right→wrong, ↑ wrong→right); "
                     "p = exact McNemar test (two-sided binomial on the flips)")
        lines += _grouped(f"Flips {NOT_AVAILABLE}", {name: reason for name, reason in flips.reasons.items() if name != flips.against})
    return lines + noise_floor_lines(report)


def _grouped(prefix: str, reasons: dict[str, str | None]) -> list[str]:
    """One line per distinct reason, naming the variants it applies to."""
    by_reason: dict[str | None, list[str]] = {}
    for name, reason in reasons.items():
        by_reason.setdefault(reason, []).append(name)
    return [f"{prefix} for {', '.join(names)}: {reason}" for reason, names in by_reason.items()]


def noise_floor_lines(report: Report) -> list[str]:
    """Repeat floor (conditions from the records) and the cross-engine floor (F16 GGUF vs the HF base), if measured."""
    texts = [row.text for row in report.rows if row.text is not None]
    if not texts:
        return []
    conditions = sorted({f"{t.resources.device}, {t.resources.threads or 'unrecorded'} threads" for t in texts})
    lines = [f"Noise floor: the same artifact evaluated twice under the same conditions ({'; '.join(conditions)}) gives "
             f"identical numbers ({_repeat_evidence(report)})"]
    engine = next((row for row in report.rows if row.variant.format == "gguf" and row.variant.quant_type in ("F16", "BF16", "F32")
                   and row.text is not None), None)
    if engine is not None and engine.value("kld_mean") is not None:
        lines.append(f"Cross-engine floor: {engine.variant.name} (llama.cpp) against the HF base (transformers) gives mean KLD "
                     f"{engine.value('kld_mean'):.2e}, same top {engine.value('same_top_pct'):.2f} %: differences below this "
                     "are the engines', not the quantization's")
    return lines


def _repeat_evidence(report: Report) -> str:
    """What shows it: the base's own pass against its cached first pass when the base was measured, else the tests."""
    base = next((row for row in report.rows if row.is_baseline and row.text is not None and row.text.kld is not None), None)
    tested = "per-position data equal to the bit: tests/test_positions.py checks it"
    if base is None:
        return tested
    kld = base.text.kld  # type: ignore[union-attr]
    verdict = "identical" if kld.kld.max == 0 and kld.same_top_p == 1 else "NOT identical"
    return (f"measured here: the base's second pass against its first, {verdict}: KLD mean {kld.kld.mean:.3g}, "
            f"max {kld.kld.max:.3g}, same top {100 * kld.same_top_p:.2f} %; {tested}")
