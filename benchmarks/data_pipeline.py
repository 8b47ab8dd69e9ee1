"""How fast does the data pipeline serve features, cold and from the on-disk cache?

One run reads the same ICBHI cycles three ways and prints cycles per second for each, and the ratios:

* ``decode``: waveform only (decode, resample to 16 kHz, fade, 8 s repeat padding);
* ``cold``: waveform + AST fbank, computed and written to an empty feature cache;
* ``warm``: the same items again, now read from the cache.

The data is ``$RESPKIT_DATA`` when set (the real ICBHI audio present there), else the simulator. Examples::

    python benchmarks/data_pipeline.py                    # ICBHI cycles with audio, AST fbank
    python benchmarks/data_pipeline.py --feature mfcc     # SPRSound events, the SupCon MFCC recipe
"""

from __future__ import annotations

import argparse
import tempfile
import time

import torch

from respkit.data import ICBHI, FeatureCache, SPRSound, resolve_data
from respkit.features import MFCC, ASTFbank


def throughput(dataset, n_items: int) -> float:
    """Items per second for reading ``dataset[0 .. n_items)`` once."""
    start = time.perf_counter()
    for i in range(n_items):
        dataset[i]
    return n_items / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--feature", choices=["fbank", "mfcc"], default="fbank")
    parser.add_argument("--items", type=int, default=150, help="items to read (fewer if the data has fewer)")
    args = parser.parse_args()
    torch.set_num_threads(1)  # one DataLoader worker's view of the work

    data = resolve_data()
    print(data.notice)
    with tempfile.TemporaryDirectory() as folder:
        cache = FeatureCache(folder)
        if args.feature == "fbank":

            def make(transform, cache):
                return ICBHI(
                    data.icbhi.root,
                    split="all",
                    require_audio=False,  # noqa: E731
                    transform=transform,
                    cache=cache,
                )

            transform = ASTFbank(target_frames=798)
        else:

            def make(transform, cache):
                return SPRSound(
                    data.sprsound.root,
                    split="train",
                    level="event",  # noqa: E731
                    duration=3.0,
                    transform=transform,
                    cache=cache,
                )

            transform = MFCC()
        n = min(args.items, len(make(None, None)))
        # Each pass gets a fresh dataset, so no pass profits from another's decoded-recording LRU.
        decode = throughput(make(None, None), n)
        cold = throughput(make(transform, cache), n)
        warm = throughput(make(transform, cache), n)

    print(f"{n} items, feature {args.feature}")
    print(f"decode only          : {decode:8.1f} items/s")
    print(f"cold (compute+write) : {cold:8.1f} items/s")
    print(f"warm (cache read)    : {warm:8.1f} items/s")
    print(f"warm cache speed-up over cold: {warm / cold:.1f}x")


if __name__ == "__main__":
    main()
