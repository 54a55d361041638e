# One image for the web server and both kinds of worker (docker-compose.yml picks the command).
# torch from PyPI carries its CUDA libraries; the NVIDIA container runtime provides the driver.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 DJANGO_SETTINGS_MODULE=webapp.settings
WORKDIR /app
# The product's requirements only: tests and tools (requirements-dev.txt) stay out of the image.
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
# Static files are collected at build time; whitenoise serves them from the web process.
RUN DJANGO_ENV=development python manage.py collectstatic --noinput -v 0
EXPOSE 8000
