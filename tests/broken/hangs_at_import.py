"""A learner file that runs its server when imported (no `if __name__ == "__main__":`)."""

while True:
    pass
