"""The TUI's dialogs: confirm (quit, end game), kick (with a reason), ban, broadcast, and help.

Each dialog is a modal screen that returns its answer through ``dismiss`` (None = cancelled);
the app turns the answer into a registry command, so a dialog never touches the engine.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, TypeVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

T = TypeVar("T")

DIALOG_CSS = """
ClankDialog {
    align: center middle;
    background: $background 60%;
}
ClankDialog > Vertical {
    width: 64;
    max-width: 90%;
    height: auto;
    border: thick $primary;
    background: $surface;
    padding: 1 2;
}
ClankDialog .question { text-style: bold; margin-bottom: 1; width: 100%; }
ClankDialog .detail { color: $text-muted; margin-bottom: 1; width: 100%; }
ClankDialog Input { margin-bottom: 1; }
ClankDialog .error { color: $error; height: auto; }
ClankDialog Horizontal { height: auto; align-horizontal: right; }
ClankDialog Button { margin-left: 2; }
"""


class ClankDialog(ModalScreen[T]):
    DEFAULT_CSS = DIALOG_CSS
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def action_cancel(self) -> None:
        self.dismiss(None)

    @staticmethod
    def buttons(confirm: str, variant: str = "primary") -> Horizontal:
        return Horizontal(
            Button(confirm, variant=variant, id="confirm"),  # type: ignore[arg-type]
            Button("Cancel", id="cancel"),
        )

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "confirm":
            self.confirm()
        else:
            self.dismiss(None)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.confirm()

    def confirm(self) -> None:
        raise NotImplementedError


class ConfirmScreen(ClankDialog[bool]):
    """Yes or no; Enter or ``y`` confirms, Escape or ``n`` cancels."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("y", "yes", "Yes"), Binding("n", "cancel", "No")]

    def __init__(self, question: str, detail: str = "", confirm_label: str = "Yes", danger: bool = True):
        super().__init__()
        self.question, self.detail, self.confirm_label, self.danger = question, detail, confirm_label, danger

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.question, classes="question", markup=False)
            if self.detail:
                yield Label(self.detail, classes="detail", markup=False)
            yield self.buttons(self.confirm_label, "error" if self.danger else "primary")

    def on_mount(self) -> None:
        self.query_one("#confirm", Button).focus()

    def action_yes(self) -> None:
        self.confirm()

    def confirm(self) -> None:
        self.dismiss(True)


class KickScreen(ClankDialog[str]):
    """Confirm a kick; returns the reason the player will see ("" = the default one)."""

    def __init__(self, name: str, detail: str) -> None:
        super().__init__()
        self.player, self.detail = name, detail

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(f"Kick {self.player}?", classes="question", markup=False)
            yield Label(self.detail, classes="detail", markup=False)
            yield Input(placeholder="reason shown to the player (optional)", id="reason")
            yield self.buttons("Kick", "error")

    def confirm(self) -> None:
        self.dismiss(self.query_one("#reason", Input).value.strip())


@dataclass(frozen=True)
class BanRequest:
    minutes: float  # 0 = forever
    reason: str


class BanScreen(ClankDialog[BanRequest]):
    """Ask how long (minutes, empty or 0 = forever) and why."""

    def __init__(self, name: str, detail: str) -> None:
        super().__init__()
        self.player, self.detail = name, detail

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(f"Ban {self.player}?", classes="question", markup=False)
            yield Label(self.detail, classes="detail", markup=False)
            yield Input(placeholder="minutes (empty or 0 = forever)", id="minutes", type="number")
            yield Input(placeholder="reason", id="reason")
            yield Label("", classes="error", id="error")
            yield self.buttons("Ban", "error")

    def on_mount(self) -> None:
        self.query_one("#minutes", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if event.input.id == "minutes":
            self.query_one("#reason", Input).focus()
        else:
            self.confirm()

    def confirm(self) -> None:
        text = self.query_one("#minutes", Input).value.strip()
        try:
            minutes = float(text) if text else 0.0
        except ValueError:
            minutes = -1.0
        if minutes < 0:
            self.query_one("#error", Label).update("minutes must be a number, 0 or more")
            return
        self.dismiss(BanRequest(minutes, self.query_one("#reason", Input).value.strip()))


class BroadcastScreen(ClankDialog[str]):
    """A message for every connected console."""

    def __init__(self, consoles: int) -> None:
        super().__init__()
        self.consoles = consoles

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("Broadcast a message", classes="question", markup=False)
            yield Label(
                f"Every connected console ({self.consoles}) shows it as a system message.", classes="detail"
            )
            yield Input(placeholder="message", id="message")
            yield self.buttons("Send")

    def confirm(self) -> None:
        text = self.query_one("#message", Input).value.strip()
        if text:
            self.dismiss(text)


HELP_CSS = """
HelpScreen { align: center middle; background: $background 60%; }
HelpScreen > VerticalScroll {
    width: 100;
    max-width: 95%;
    height: 90%;
    border: thick $primary;
    background: $surface;
    padding: 0 1;
}
"""


class HelpScreen(ModalScreen[None]):
    """Keys, the command registry, and the console setup text."""

    DEFAULT_CSS = HELP_CSS
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,f1,q", "close", "Close")]

    def __init__(self, keys: list[tuple[str, str]], commands: list[tuple[str, str]], setup: str) -> None:
        super().__init__()
        self.keys, self.commands, self.setup = keys, commands, setup

    def compose(self) -> ComposeResult:
        text = Text()
        text.append("Keys\n", style="bold underline")
        for key, what in self.keys:
            text.append(f"  {key:<14}", style="bold")
            text.append(f"{what}\n")
        text.append("\nCommands\n", style="bold underline")
        text.append(
            "Type them in the command line (/); a leading '!' works too, as in lobby chat.\n", style="dim"
        )
        for usage, what in self.commands:
            text.append(f"  {usage:<34}", style="bold")
            text.append(f"{what}\n")
        text.append("\nConnecting consoles\n", style="bold underline")
        text.append(self.setup)
        with VerticalScroll():
            yield Static(text)

    def action_close(self) -> None:
        self.dismiss(None)
