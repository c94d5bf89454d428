"""Flask extensions, created unbound and initialised in ``create_app``."""

from typing import Any, Literal

from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_socketio import SocketIO
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect

from advice_line.models.base import Base, UTCDateTime


def socketio_async_mode() -> str:
    """Serve sockets with gevent when it has patched the standard library, else threads."""
    try:
        from gevent import monkey
    except ImportError:  # pragma: no cover - gevent is a dependency
        return "threading"
    return "gevent" if monkey.is_module_patched("socket") else "threading"


def render_migration_item(type_: str, obj: Any, _context: Any) -> str | Literal[False]:
    """Render UTCDateTime in migrations as the plain column type it stores."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


db = SQLAlchemy(model_class=Base)
migrate = Migrate(compare_type=True, render_as_batch=True, render_item=render_migration_item)
socketio = SocketIO()
login_manager = LoginManager()
csrf = CSRFProtect()
# Storage and on/off come from each app's config (RATELIMIT_*); a rate-limit store that is
# down lets sign-ins through rather than lock clinicians out of a 24/7 line.
limiter = Limiter(get_remote_address, swallow_errors=True, headers_enabled=True)
