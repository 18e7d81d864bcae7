def tick():
    return 1


def tock():
    return 2
