def scale(*, x: int) -> int:
    return 2 * x
