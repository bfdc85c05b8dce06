"""The two experiments of enkf's Fig. 1 that no parameter tells apart from the others,
by their names in the configs: the plain EnKF run at the paper's ensemble size (its
J is the defaults', which a run does not record as such) and the SGD run tested at the
EnKF cadence (the paper-tiny overlay gives every gd run that cadence). Every other
output selects by kind and parameters (repro.enkf)."""

MAIN = "enkf"
SGD = "sgd"
