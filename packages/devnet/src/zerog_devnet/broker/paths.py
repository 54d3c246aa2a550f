"""Classification of ``/v1/proxy/*`` paths, in the broker's matching order.

Normalisation: strip ``/v1/proxy``, collapse one leading ``/v1``, drop the query, trim trailing ``/``.
Then: exact billed route → ``/signature/<id>`` → ``/images/<key>/<index>`` → free prefixes →
auth-only prefixes → unsupported (``400 {"error": UNSUPPORTED_ENDPOINT_ERROR}``).
"""

SERVICE_PREFIX = "/v1/proxy"
UNSUPPORTED_ENDPOINT_ERROR = "unsupported endpoint: endpoint not supported"

BILLED_ROUTES = frozenset(
    {
        "/chat/completions",
        "/messages",
        "/v1/messages",
        "/images/generations",
        "/images/edits",
        "/audio/transcriptions",
        "/embeddings",
        "/videos",
    }
)
FREE_PREFIXES = ("/attestation", "/signature")
AUTH_REQUIRED_PREFIXES = ("/videos/",)

BILLED = "billed"
SIGNATURE = "signature"
IMAGE = "image"
FREE = "free"
AUTH_ONLY = "auth_only"
UNSUPPORTED = "unsupported"


def _strip_service_prefix(path: str) -> str:
    return path[len(SERVICE_PREFIX) :] if path.startswith(SERVICE_PREFIX) else path


def normalize(path: str) -> str:
    """The broker's ``targetPath`` for a request path (with or without ``/v1/proxy`` and a query)."""
    route = _strip_service_prefix(path)
    if route == "/v1" or route.startswith("/v1/"):
        route = route[len("/v1") :] or "/"
    route = route.split("?", 1)[0]
    return route if route == "/" else route.rstrip("/")


def image_ref(normalized: str) -> tuple[str, str] | None:
    """``(chatKey, index)`` for an image-serve path ``/images/<key>/<index>``, else None."""
    if not normalized.startswith("/images/"):  # the broker trims the prefix case-sensitively
        return None
    key, sep, index = normalized[len("/images/") :].partition("/")
    return (key, index) if sep and key and index else None


def classify(path: str) -> tuple[str, str]:
    """``(kind, normalized)``; kind is billed, signature, image, free, auth_only or unsupported."""
    target = normalize(path)
    lowered = target.lower()
    if target in BILLED_ROUTES:
        kind = BILLED
    elif lowered.startswith("/signature/"):
        kind = SIGNATURE
    elif image_ref(target) is not None:
        kind = IMAGE
    elif lowered.startswith(FREE_PREFIXES):
        kind = FREE
    elif lowered.startswith(AUTH_REQUIRED_PREFIXES):
        kind = AUTH_ONLY
    else:
        kind = UNSUPPORTED
    return kind, target


def signature_chat_id(path: str) -> str:
    """The chat id the broker looks up for a signature path (lower-cased).

    Like the broker it is taken from the raw path after ``/v1/proxy`` (query dropped, no ``/v1`` collapse,
    no trailing-slash trim), so ``/v1/proxy/signature/<id>`` yields ``<id>``.
    """
    raw = _strip_service_prefix(path).split("?", 1)[0].lower()
    return raw[len("/signature/") :] if raw.startswith("/signature/") else raw
