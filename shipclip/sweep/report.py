"""What a sweep prints: one line per finished run, a progress bar on a terminal, a summary at the end."""
import sys

from .execute import BLOCKED, DONE, FAILED, SKIPPED, skip_message


def duration(seconds):
    seconds = max(0.0, float(seconds))
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def describe(outcome):
    """The progress line of one finished run (without its ``[k/n]`` counter)."""
    if outcome.status == SKIPPED:
        return skip_message(outcome)
    if outcome.status == DONE:
        return f"done in {duration(outcome.seconds)}: {outcome.title} ({outcome.output_dir})"
    if outcome.status == BLOCKED:
        return f"blocked: {outcome.title} ({outcome.detail})"
    log = outcome.log or "no log written (see the output above)"
    return f"FAILED ({outcome.detail}) after {duration(outcome.seconds)}: {outcome.title}; log: {log}"


class Reporter:
    """Counts finished runs; prints their lines (through the bar when there is one)."""

    def __init__(self, total, bar=False, stream=None):
        self.total = total
        self.outcomes = []
        self.stream = stream or sys.stdout
        self.bar = None
        if bar:
            from tqdm import tqdm
            self.bar = tqdm(total=total, unit="run", desc="sweep", file=sys.stderr, dynamic_ncols=True, leave=False)

    def say(self, text):
        if self.bar is not None:
            self.bar.write(text, file=self.stream)
        else:
            print(text, file=self.stream, flush=True)

    def outcome(self, outcome):
        self.outcomes.append(outcome)
        self.say(f"[{len(self.outcomes)}/{self.total}] {describe(outcome)}")
        if self.bar is not None:
            self.bar.update(1)

    def close(self):
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def summary(outcomes, total, seconds, interrupted=False):
    """The closing lines: counts, then every run that did not finish with the path of its log."""
    count = {status: sum(o.status == status for o in outcomes) for status in (DONE, SKIPPED, FAILED, BLOCKED)}
    parts = [f"{count[DONE]} done", f"{count[SKIPPED]} skipped (finished before)"]
    parts += [f"{count[s]} {s}" for s in (FAILED, BLOCKED) if count[s]]
    lines = [f"Sweep: {total} runs in {duration(seconds)}: {', '.join(parts)}."]
    if interrupted:
        left = total - count[DONE] - count[SKIPPED]
        lines.append(f"Interrupted with {left} run(s) not finished. Run the same command again: finished runs are "
                     "skipped, unfinished ones resume from their last checkpoint.")
    failed = [o for o in outcomes if o.status == FAILED]
    if failed:
        lines.append(f"Failed runs ({len(failed)}); fix the cause and run the same command again to retry them "
                     "and the runs they block:")
        lines += [f"  {o.output_dir}: {o.detail}; log: {o.log or 'none written (see the output above)'}" for o in failed]
    stuck = [o for o in outcomes if o.status == BLOCKED]
    if stuck:
        lines.append(f"Not started ({len(stuck)}), because a run they need failed:")
        lines += [f"  {o.output_dir}: {o.detail}" for o in stuck]
    return lines
