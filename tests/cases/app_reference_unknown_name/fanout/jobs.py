import modalc_app


def nightly():
    modalc_app.pots.remote("done")


def post(message: str) -> None:
    print(message)
