"""The TUI's dialogs: confirm (quit, end game), kick (with a reason), ban, broadcast, a tournament
result's winner, and help.

Every destructive dialog names its target in the question and on the button that acts.

Each dialog is a modal screen that returns its answer through ``dismiss`` (None = cancelled);
the app turns the answer into a registry command, so a dialog never touches the engine.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, TypeVar

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from clank_lan.tui.widgets import LineInput

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
ClankDialog OptionList { height: auto; max-height: 6; margin-bottom: 1; }
ClankDialog .error { color: $error; height: auto; }
ClankDialog Horizontal { height: auto; align-horizontal: right; }
ClankDialog Button { margin-left: 2; }
"""


class ClankDialog(ModalScreen[T]):
    """A modal question. Enter in a field (a text input, or a list once an entry is picked) moves
    on to the next field, and from the last one to the confirm button (which names the target);
    only that button acts. Escape cancels.
    The answer is given once: a second Enter or click arriving before the dialog is gone is
    ignored (answering twice popped the console's own screen and killed the appliance)."""

    DEFAULT_CSS = DIALOG_CSS
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel"),
        Binding("enter", "enter", "Next", priority=True, show=False),
    ]
    answered = False
    #: Fields that must not be left empty (Enter in them stays put).
    required: ClassVar[frozenset[str]] = frozenset()

    def answer(self, value: T | None) -> None:
        if self.answered or not self.is_current:
            return
        self.answered = True
        self.dismiss(value)

    def action_cancel(self) -> None:
        self.answer(None)

    @staticmethod
    def buttons(confirm: str, variant: str = "primary") -> Horizontal:
        return Horizontal(
            # plain Content: a label naming a player must not be read as markup ("[b]amy")
            Button(Content(confirm), variant=variant, id="confirm"),  # type: ignore[arg-type]
            Button("Cancel", id="cancel"),
        )

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "confirm":
            self.confirm()
        else:
            self.answer(None)

    def action_enter(self) -> None:
        """Enter, handled as the key arrives: focus moves before the next key is routed, so keys
        typed (or pasted) right behind an Enter land in the next field, not the one it left."""
        focused = self.focused
        if isinstance(focused, Button):
            focused.press()
            return
        fields = list(self.query("Input, OptionList"))
        if focused not in fields:
            return
        if isinstance(focused, Input) and focused.id in self.required and not focused.value.strip():
            return
        if isinstance(focused, OptionList) and focused.highlighted is None:
            return  # a choice must be made before moving on
        at = fields.index(focused)
        self.set_focus(fields[at + 1] if at + 1 < len(fields) else self.query_one("#confirm", Button))

    def confirm(self) -> None:
        raise NotImplementedError


class ConfirmScreen(ClankDialog[bool]):
    """Yes or no; Enter on the confirm button or ``y`` confirms, Escape or ``n`` cancels."""

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
        self.answer(True)


class KickScreen(ClankDialog[str]):
    """Confirm a kick; returns the reason the player will see ("" = the default one)."""

    def __init__(self, name: str, detail: str) -> None:
        super().__init__()
        self.player, self.detail = name, detail

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(f"Kick {self.player}?", classes="question", markup=False)
            yield Label(self.detail, classes="detail", markup=False)
            yield LineInput(placeholder="reason shown to the player (optional), Enter", id="reason")
            yield self.buttons(f"Kick {self.player}", "error")

    def on_mount(self) -> None:
        self.query_one("#reason", Input).focus()

    def confirm(self) -> None:
        self.answer(self.query_one("#reason", Input).value.strip())


@dataclass(frozen=True)
class BanRequest:
    minutes: float  # 0 = forever
    reason: str


#: The longest ban the dialog accepts (longer is "forever", 0).
MAX_BAN_MINUTES = 10 * 365 * 24 * 60


class BanScreen(ClankDialog[BanRequest]):
    """Ask how long (minutes, empty or 0 = forever) and why; the button names who is banned."""

    def __init__(self, name: str, detail: str) -> None:
        super().__init__()
        self.player, self.detail = name, detail

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(f"Ban {self.player}?", classes="question", markup=False)
            yield Label(self.detail, classes="detail", markup=False)
            yield LineInput(placeholder="minutes (empty or 0 = forever), Enter", id="minutes", type="number")
            yield LineInput(placeholder="reason, Enter", id="reason")
            yield Label("", classes="error", id="error")
            yield self.buttons(f"Ban {self.player}", "error")

    def on_mount(self) -> None:
        self.query_one("#minutes", Input).focus()

    def confirm(self) -> None:
        text = self.query_one("#minutes", Input).value.strip()
        try:
            minutes = float(text) if text else 0.0
        except ValueError:
            minutes = -1.0
        if not 0 <= minutes <= MAX_BAN_MINUTES:
            self.query_one("#error", Label).update("minutes must be a number, 0 (forever) or more")
            self.query_one("#minutes", Input).focus()
            return
        self.answer(BanRequest(minutes, self.query_one("#reason", Input).value.strip()))


class BroadcastScreen(ClankDialog[str]):
    """A message for every connected console."""

    required: ClassVar[frozenset[str]] = frozenset({"message"})

    def __init__(self, consoles: int) -> None:
        super().__init__()
        self.consoles = consoles

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("Broadcast a message", classes="question", markup=False)
            yield Label(
                f"Every connected console ({self.consoles}) shows it as a system message.", classes="detail"
            )
            yield LineInput(placeholder="message, Enter", id="message")
            yield self.buttons(f"Send to {self.consoles} consoles")

    def on_mount(self) -> None:
        self.query_one("#message", Input).focus()

    def confirm(self) -> None:
        text = self.query_one("#message", Input).value.strip()
        if text:
            self.answer(text)
        else:
            self.query_one("#message", Input).focus()


@dataclass(frozen=True)
class ResultChoice:
    """The winner the operator picked for a pending tournament result."""

    result_id: int
    winner: str


class ConfirmResultScreen(ClankDialog[ResultChoice]):
    """Name the winner of a game the title did not report one for. The dialog names the result,
    its match, the lobby game and both sides; Up/Down picks a side, Enter moves to the button,
    which names the result and the winner picked, and only that button acts."""

    def __init__(self, result_id: int, match: str, game: str, side_a: str, side_b: str) -> None:
        super().__init__()
        self.result_id, self.match, self.game = result_id, match, game
        self.sides = (side_a, side_b)

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(
                f"Who won result {self.result_id}: {self.sides[0]} vs {self.sides[1]}?",
                classes="question",
                markup=False,
            )
            yield Label(
                f"Match {self.match}; {self.game}.\nUp/Down picks the winner, Enter goes on to the button.",
                classes="detail",
                markup=False,
            )
            yield OptionList(*(Option(Text(side)) for side in self.sides), id="winner", markup=False)
            yield Label("", classes="error", id="error")
            yield self.buttons(self.button_label(None))

    def on_mount(self) -> None:
        winner = self.query_one("#winner", OptionList)
        winner.highlighted = None  # nobody is picked until the operator picks
        winner.focus()

    def button_label(self, index: int | None) -> str:
        if index is None:
            return f"Confirm result {self.result_id}"
        return f"Confirm: {self.sides[index]} won result {self.result_id}"

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        event.stop()
        self.query_one("#confirm", Button).label = Content(self.button_label(event.option_index))

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()  # a click picks a side; it never confirms

    def confirm(self) -> None:
        index = self.query_one("#winner", OptionList).highlighted
        if index is None:
            self.query_one("#error", Label).update("pick the winner first (Up/Down)")
            self.query_one("#winner", OptionList).focus()
            return
        self.answer(ResultChoice(self.result_id, self.sides[index]))


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
    AUTO_FOCUS = "VerticalScroll"  # Up/Down/PageUp/PageDown scroll the help

    def __init__(
        self,
        keys: list[tuple[str, str]],
        commands: list[tuple[str, str]],
        setup: str,
        paths: list[tuple[str, str]] | None = None,
    ) -> None:
        super().__init__()
        self.keys, self.commands, self.setup, self.paths = keys, commands, setup, paths or []

    def compose(self) -> ComposeResult:
        parts: list[RenderableType] = []

        def section(title: str, rows: list[tuple[str, str]], width: int, note: str = "") -> None:
            parts.append(Text(title, style="bold underline"))
            if note:
                parts.append(Text(note, style="dim"))
            grid = Table.grid(padding=(0, 2))  # a wrapped description stays in its column
            grid.add_column(width=width, style="bold", overflow="fold")
            grid.add_column(ratio=1, overflow="fold")
            for left, right in rows:
                grid.add_row(Text(left), Text(right))
            parts.extend((grid, Text("")))

        if self.paths:
            section("Where things are", self.paths, 8)
        section("Keys", self.keys, 12)
        section(
            "Commands",
            self.commands,
            30,
            "Type them anywhere on the console (letters go to the command line); a leading '!' works "
            "too, as in lobby chat.",
        )
        parts.append(Text("Connecting consoles", style="bold underline"))
        parts.append(Text(self.setup))
        with VerticalScroll():
            yield Static(Group(*parts))

    def action_close(self) -> None:
        self.dismiss(None)
