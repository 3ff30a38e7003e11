"""The cart dashboard: a Flask + htmx web app running a shopping-cart domain on emit."""
