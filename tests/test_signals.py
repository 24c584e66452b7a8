"""Ctrl-C and SIGTERM: the first stops the work, later ones never interrupt the shutdown."""

import signal

import pytest

from bench.signals import Interrupts


@pytest.mark.parametrize("kind", [signal.SIGINT, signal.SIGTERM])
def test_only_the_first_signal_interrupts_and_every_one_is_counted(kind):
    before = signal.getsignal(kind)
    with Interrupts() as interrupts:
        with pytest.raises(KeyboardInterrupt):
            signal.raise_signal(kind)
        signal.raise_signal(kind)  # while saving: counted, not raised
        signal.raise_signal(signal.SIGINT)
        assert interrupts.count == 3 and interrupts.interrupted
    assert signal.getsignal(kind) is before  # the previous handlers are back


def test_a_signal_inside_held_takes_effect_as_the_block_ends():
    from bench.signals import held

    before = signal.getsignal(signal.SIGINT)
    finished = False
    with pytest.raises(KeyboardInterrupt):
        with held():
            signal.raise_signal(signal.SIGINT)  # mid-step
            finished = True
    assert finished and signal.getsignal(signal.SIGINT) is before
