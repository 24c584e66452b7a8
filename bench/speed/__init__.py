"""``bench speed``: each benchmark times bench beside a plain baseline, in one process."""
