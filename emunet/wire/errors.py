"""The one exception of the wire layer."""


class Malformed(ValueError):
    """A header failed its checks.

    ``reason`` is named after the kernel's ``skb_drop_reason`` (PKT_TOO_SMALL,
    IP_INHDR, IP_CSUM, UDP_CSUM, ...) so that the device or stack that catches
    it can count the drop under the name a kernel engineer would look for.
    """

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail
