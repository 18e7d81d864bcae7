import modalc_app

POSTER = modalc_app.post


def nightly():
    POSTER.remote("done")


def post(message: str) -> None:
    print(message)
