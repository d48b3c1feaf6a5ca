"""The frames a station writes (RFC 6455 §5.2): unfragmented, masked text frames, built
directly for the hot path, with masking keys drawn from the OS a block at a time."""

from __future__ import annotations

import os
import struct
from typing import Final

from websockets.frames import apply_mask


class MaskKeys:
    """Masking keys for the frames a client sends. RFC 6455 §5.3 wants each unpredictable,
    from a strong source of entropy: they still come from ``os.urandom``, but a block at a
    time, not one getrandom call per frame (websockets' per-frame ``secrets.token_bytes(4)``
    was ~4 % of a busy process)."""

    __slots__ = ("_at", "_block")
    BLOCK = 4096

    def __init__(self) -> None:
        self._block = b""
        self._at = 0

    def take(self) -> bytes:
        at = self._at
        if at >= len(self._block):
            self._block, at = os.urandom(self.BLOCK), 0
        self._at = at + 4
        return self._block[at : at + 4]


mask_keys = MaskKeys()
HEAD_TEXT: Final = 0x81  # FIN + text opcode
MASKED: Final = 0x80


def text_frame(payload: bytes, mask: bytes) -> bytes:
    """One unfragmented, masked text frame (RFC 6455 §5.2), as websockets' Frame.serialize
    writes it for a client without extensions: the hot path of every CALL, without the Frame
    object, the BytesIO and the list of pending writes it goes through."""
    length = len(payload)
    if length < 126:
        head = bytes((HEAD_TEXT, MASKED | length))
    elif length < 65536:
        head = struct.pack("!BBH", HEAD_TEXT, MASKED | 126, length)
    else:
        head = struct.pack("!BBQ", HEAD_TEXT, MASKED | 127, length)
    return head + mask + apply_mask(payload, mask)
