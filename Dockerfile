# syntax=docker/dockerfile:1
# The line's image: one image for every process; compose.yaml chooses the command
# (gunicorn for the webhooks and the consoles, `flask scheduler`, `flask db upgrade`).
# No secret is baked in: SECRET_KEY, the database passwords and Twilio's token come from
# the environment at run time. Node is needed only to build; the image has none.

# 1. The front-end packages from the npm registry, exactly as package-lock.json says.
FROM node:22-bookworm-slim AS frontend
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund --loglevel=error

# 2. The assets built into the package (content-hashed names, compressed), then a wheel.
FROM python:3.11-slim AS build
WORKDIR /src
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
COPY requirements.lock ./
RUN python -m venv /venv \
    && /venv/bin/pip install --require-hashes --no-deps -r requirements.lock
COPY --from=frontend /src/node_modules ./node_modules
COPY pyproject.toml wsgi.py gunicorn.conf.py ./
COPY advice_line ./advice_line
RUN /venv/bin/python -m advice_line.assets build \
    && /venv/bin/pip wheel --no-deps --no-build-isolation --wheel-dir /wheels .

# 3. What runs: the locked dependencies, the wheel, a user who owns nothing else.
FROM python:3.11-slim
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    PATH=/venv/bin:$PATH \
    FLASK_APP=advice_line \
    GUNICORN_BIND=0.0.0.0:8000 \
    SPOOL_PATH=/var/lib/advice-line/spool/spool.sqlite3
COPY requirements.lock /tmp/requirements.lock
COPY --from=build /wheels /tmp/wheels
RUN python -m venv /venv \
    && pip install --require-hashes --no-deps -r /tmp/requirements.lock \
    && pip install --no-deps /tmp/wheels/*.whl \
    && rm -rf /tmp/requirements.lock /tmp/wheels \
    && useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin advice \
    && install -d -o advice -g advice -m 0700 /var/lib/advice-line/spool
WORKDIR /app
COPY wsgi.py gunicorn.conf.py ./
USER advice
EXPOSE 8000
# Healthy while the process answers and reaches the database (/healthz answers 503 when
# it cannot); the scheduler and the migration override this in compose.yaml.
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2)"]
CMD ["gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"]
