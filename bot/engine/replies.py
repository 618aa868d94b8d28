"""One message per turn: consecutive replies of a turn that fit in one message become one.

Three messages of one turn reach a phone as three notifications, and Telegram's per-chat pace
(about one message a second) makes the third arrive seconds after the first. So the replies a
turn produces are joined, paragraph after paragraph, into as few messages as they fit in, with
the keyboard on the last one. A reply stays a message of its own only when it must:

- it is marked ``alone`` (a statement the shopper copies as a whole, an evidence
  acknowledgement);
- joining would pass Telegram's 4096-character limit (counted in UTF-16 units, as Telegram
  counts);
- it carries buttons and something follows it (buttons stay under the text they belong to);
- it is an edit of the tapped message, or the two differ in being HTML.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from bot.engine.model import Reply

#: Telegram's limit on the text of one message.
MESSAGE_LIMIT = 4096

#: What separates two joined replies: a paragraph break.
SEPARATOR = "\n\n"


def tg_len(text: str) -> int:
    """The length of ``text`` as Telegram counts it (UTF-16 code units)."""
    return len(text.encode("utf-16-le")) // 2


def can_join(first: Reply, second: Reply, limit: int = MESSAGE_LIMIT) -> bool:
    """Tells whether ``second`` can go into the same message as ``first``, after it."""
    if first.mode != "send" or second.mode != "send" or not first.text or not second.text:
        return False
    if first.alone or second.alone or first.buttons or first.html != second.html:
        return False
    return tg_len(first.text) + tg_len(SEPARATOR) + tg_len(second.text) <= limit


def one_message_per_turn(replies: Sequence[Reply], limit: int = MESSAGE_LIMIT) -> tuple[Reply, ...]:
    """Joins consecutive replies that can share a message; the order of what is said is kept."""
    joined: list[Reply] = []
    for reply in replies:
        if joined and can_join(joined[-1], reply, limit):
            last = joined[-1]
            assert last.text is not None and reply.text is not None
            joined[-1] = replace(reply, text=last.text + SEPARATOR + reply.text)
        else:
            joined.append(reply)
    return tuple(joined)
