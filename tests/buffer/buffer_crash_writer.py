"""A writer process for the crash and concurrency tests: appends deterministic episodes until told to stop.

    python buffer_crash_writer.py STORE [MAX_EPISODES] [SLEEP_S]

Episode i holds ``episode_steps(spec, i)`` (see buffer_helpers), so any committed episode can be
checked after the process is killed. Prints "ready N" once the store is open (N committed episodes).
"""

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from buffer_helpers import tiny_spec, write_episode  # noqa: E402

from robot_rl.buffer import RolloutBuffer  # noqa: E402


def main() -> None:
    path = Path(sys.argv[1])
    limit = int(sys.argv[2]) if len(sys.argv) > 2 else 10**9
    pause = float(sys.argv[3]) if len(sys.argv) > 3 else 0.0
    if path.exists():
        buf = RolloutBuffer.open(path, mode="a", spec=tiny_spec())
    else:
        buf = RolloutBuffer.create(path, tiny_spec(), steps_per_chunk=4)
    print(f"ready {buf.num_episodes}", flush=True)
    while buf.num_episodes < limit:
        write_episode(buf, buf.num_episodes)
        time.sleep(pause)
    buf.close()
    print("done", flush=True)


if __name__ == "__main__":
    main()
