# Zone Explorer: one image for the API, the workers and (optionally) optuna-dashboard.
FROM python:3.11-slim

# torch first and pinned, so pip never resolves it to something else. Pass a CPU-only wheel spec or index for a
# small image, e.g. --build-arg TORCH_SPEC="torch==2.13.0" --build-arg PIP_EXTRA="--index-url <your CPU wheel index>".
# The default wheel for Linux carries CUDA: keep it for GPU workers (`worker --devices auto`, deploy/kubernetes).
ARG TORCH_SPEC="torch==2.13.0"
ARG PIP_EXTRA=""
RUN pip install --no-cache-dir ${PIP_EXTRA} ${TORCH_SPEC}

WORKDIR /app
COPY pyproject.toml README.md ./
COPY optimizers optimizers
COPY zone_explorer zone_explorer
COPY server server
COPY web web
RUN pip install --no-cache-dir ".[dashboard]"

# Configuration comes from the environment only (ZONE_EXPLORER_DATABASE_URL, ...; see server/services/settings.py).
ENV PYTHONUNBUFFERED=1 ZONE_EXPLORER_LOG_FORMAT=json
ENTRYPOINT ["zone-explorer"]
CMD ["--help"]
