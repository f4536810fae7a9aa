"""The machine the records were measured on, as they state it: the CPU's model, logical CPUs and vector extensions.

The engines pick their kernels by the CPU's vector extensions at run time, so the same file measured on CPUs with
different ones gives numbers that differ slightly (docs/results.md, "Known limits"); a report that mixes such
records says so.
"""

from __future__ import annotations

from quantwb.reports.compare import Report


def _machine(environment: dict[str, str]) -> str | None:
    if "cpu" not in environment:
        return None
    simd = environment.get("cpu_simd")
    return f"{environment['cpu']}, {environment.get('cpus', '?')} logical CPUs" + (f", {simd}" if simd else "")


def machine_lines(report: Report) -> list[str]:
    """One line naming the machine, or a warning naming the rows of each machine when records come from several."""
    machines: dict[str, list[str]] = {}
    unstated = []
    for row in report.rows:
        for record in (row.text, row.tasks):
            if record is None:
                continue
            if (machine := _machine(record.environment)) is None:
                unstated.append(row.variant.name)
            else:
                machines.setdefault(machine, []).append(row.variant.name)
    lines = []
    if len(machines) == 1:
        lines.append(f"Machine: {next(iter(machines))}")
    elif machines:
        each = "; ".join(f"{machine}: {', '.join(dict.fromkeys(names))}" for machine, names in sorted(machines.items()))
        lines.append(f"Warning: the records come from CPUs that differ ({each}); the engines' kernels differ with the "
                     "CPU's vector extensions, so small differences between these rows may be the machines'")
    if unstated and machines:
        lines.append(f"Machine of {', '.join(dict.fromkeys(unstated))}: not stated (records from before quantwb "
                     "recorded it)")
    return lines
