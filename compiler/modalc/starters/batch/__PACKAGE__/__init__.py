"""The app's code: modalc's generated modules import it inside the container and call it."""
