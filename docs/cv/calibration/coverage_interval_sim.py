"""How often does ``coverage_interval`` hold the coverage at 99.5% that fresh digits would give?

    python docs/cv/calibration/coverage_interval_sim.py     # about 30 s

Simulated models: most digits are read right nearly always and confidently; a share of "hard"
digits is misread 10-90% of the time, often with a confidence as high as an easy digit's. A strip's
confidence is the product of its digits'. Each draw makes a fresh pool of digits and fresh strips;
the truth is the spread of coverage over draws, and each draw's interval either holds the mean
coverage over draws or not.
"""

import numpy as np

from seqrec.evaluation import coverage_at_accuracy, coverage_interval

RNG = np.random.default_rng(0)


def draw(digits: int, strips: int, hard_share: float, length: int = 5):
    hard = RNG.random(digits) < hard_share
    p_wrong = np.where(hard, RNG.uniform(0.1, 0.9, digits), 0.001)
    digit_conf = np.where(hard, RNG.uniform(0.90, 0.999, digits), RNG.uniform(0.995, 0.9999, digits))
    index = RNG.integers(0, digits, (strips, length))
    wrong = (RNG.random((strips, length)) < p_wrong[index]).any(1)
    conf = np.prod(digit_conf[index], 1) * RNG.uniform(0.999, 1.0, strips)
    return conf, ~wrong, index


def main(draws: int = 80) -> None:
    for digits, strips, hard_share in ((500, 2000, 0.05), (5000, 10000, 0.03), (5000, 10000, 0.01)):
        rows = []
        for k in range(draws):
            conf, right, index = draw(digits, strips, hard_share)
            interval = coverage_interval(conf, right, index, n_boot=300, seed=k)
            rows.append((coverage_at_accuracy(conf, right)[0], *interval))
        kept, lo, hi = (np.array(v) for v in zip(*rows))
        mean = kept.mean()
        print(
            f"{digits} digits, {strips} strips, {hard_share:.0%} hard: coverage {mean:.3f} (sd {kept.std():.3f} over "
            f"draws); mean interval width {np.mean(hi - lo):.3f}; intervals holding the mean "
            f"{np.mean((lo <= mean) & (mean <= hi)):.0%} of {draws}"
        )


if __name__ == "__main__":
    main()
