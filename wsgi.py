"""The app gunicorn serves: ``gunicorn -k gevent -w 1 wsgi:app``."""

import os
import socket

from advice_line import create_app
from advice_line.cli import build_scheduler
from advice_line.extensions import socketio

app = create_app()

if app.config["SCHEDULER_IN_PROCESS"]:
    with app.app_context():
        scheduler = build_scheduler(f"{socket.gethostname()}:{os.getpid()}:app")
    socketio.start_background_task(scheduler.run_forever)
