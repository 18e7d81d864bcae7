def tick():
    return 1
