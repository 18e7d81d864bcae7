def f(x, y=2):
    return x + y
