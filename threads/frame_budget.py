"""How many frames a websocket may send: a token bucket per socket (`WEBSOCKET_FRAMES_PER_SECOND`, bursts of
`WEBSOCKET_FRAME_BURST`). A frame over budget is refused with an error frame and does nothing; a socket that
keeps flooding (`WEBSOCKET_FLOOD_CLOSE_AFTER` refusals in a row) is closed with code 4429."""

import time

from django.conf import settings


class FrameBudget:
    def __init__(self) -> None:
        self.rate = settings.WEBSOCKET_FRAMES_PER_SECOND
        self.burst = float(settings.WEBSOCKET_FRAME_BURST)
        self.tokens = self.burst
        self.updated = time.monotonic()
        self.refused_in_a_row = 0

    def take(self) -> bool:
        """Spend one frame; False when the socket is over its budget."""
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            self.refused_in_a_row = 0
            return True
        self.refused_in_a_row += 1
        return False

    @property
    def flooding(self) -> bool:
        return self.refused_in_a_row > settings.WEBSOCKET_FLOOD_CLOSE_AFTER
