"""Progress bars show on a terminal only, never in log.txt (whatever tee sits on stdout/stderr)."""
import io
import sys


class FakeTerminal(io.StringIO):
    def isatty(self):
        return True


class Tee:
    """A logging tee like Dassl's Logger: console + file, keeps the console as ``.console``."""

    def __init__(self, console, file):
        self.console, self.file = console, file

    def write(self, text):
        self.console.write(text)
        self.file.write(text)

    def flush(self):
        pass

    def isatty(self):
        return self.console.isatty()


def run_bar(monkeypatch, stderr, stdout):
    from shipclip.progress import progress_bar

    monkeypatch.setattr(sys, "stderr", stderr)
    monkeypatch.setattr(sys, "stdout", stdout)
    for _ in progress_bar(range(5), desc="work", mininterval=0):
        pass


def test_no_bar_without_a_terminal(monkeypatch):
    err, out = io.StringIO(), io.StringIO()
    run_bar(monkeypatch, err, out)
    assert err.getvalue() == "" and out.getvalue() == ""


def test_bar_goes_to_the_terminal_behind_a_tee_and_not_into_the_log(monkeypatch):
    terminal, log = FakeTerminal(), io.StringIO()
    tee = Tee(terminal, log)
    run_bar(monkeypatch, tee, tee)  # a setup that tees stderr too
    assert "work" in terminal.getvalue() and "\r" in terminal.getvalue()
    assert log.getvalue() == ""


def test_disable_is_honoured(monkeypatch):
    from shipclip.progress import progress_bar

    terminal = FakeTerminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    list(progress_bar(range(3), disable=True))
    assert terminal.getvalue() == ""
