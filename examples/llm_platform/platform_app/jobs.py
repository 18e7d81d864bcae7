"""The nightly evaluation: fans out over `score`, reports through a queue and a dict, notifies at the end."""

import modalc_app

PROMPTS = ["What is 2 + 2?", "Name a prime number.", "What colour is the sky?"]


def nightly_eval() -> float:
    scores = list(modalc_app.score.map(PROMPTS))
    average = sum(scores) / len(scores)
    modalc_app.QUEUES["reports"].put({"average": average})
    modalc_app.DICTS["status"]["last_average"] = average
    modalc_app.notify.spawn(f"nightly eval: {average:.2f}")
    return average


def score(prompt: str) -> float:
    return min(1.0, len(prompt) / 25)


def notify(message: str) -> str:
    print(message)
    return message
