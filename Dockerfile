# The Airflow image the compose stack runs: official Airflow 3.3.2 on Python 3.11 plus the
# project's pinned dependencies and library. DAGs and plugins are mounted at run time.
FROM apache/airflow:3.3.2-python3.11

COPY --chown=airflow:0 requirements.lock /opt/smarketing/requirements.lock
RUN pip install --no-cache-dir -r /opt/smarketing/requirements.lock

COPY --chown=airflow:0 pyproject.toml README.md /opt/smarketing/
COPY --chown=airflow:0 plugins /opt/smarketing/plugins
COPY --chown=airflow:0 sql /opt/smarketing/sql
COPY --chown=airflow:0 expectations /opt/smarketing/expectations
COPY --chown=airflow:0 config /opt/smarketing/config
RUN pip install --no-cache-dir --no-deps --no-build-isolation -e /opt/smarketing
# the Data Docs' styles and scripts (npm registry, integrity-checked), so the site works offline
ENV SMARKETING_ASSET_DIR=/opt/smarketing/assets
RUN python -m smarketing.data_docs fetch
