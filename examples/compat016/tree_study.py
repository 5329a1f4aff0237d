"""Two linked studies: leaves (vary ``c``) hang off each node (vary ``a``, ``b``).

Written for psweep 0.16. Study 1 stands in for an expensive calculation on a
grid of ``a`` and ``b``. Study 2 reuses each node's result as the parameter
``node_result`` and varies ``c`` on top of it, so study 1 never runs twice.
``ps.df_extract_params`` gives study 1's psets back from its database, and
``ps.pgrid`` combines psets of any length. Each study has its own database
file in ``calc/``.

Run it in this directory::

    python tree_study.py
"""

import psweep as ps

# Each script of this folder keeps its own database.
CALC_DIR = "calc/tree_study"


def nodes(pset):
    return {"node_result_": pset["a"] * pset["b"] + 0.5}


def leaves(pset):
    return {"leaf_result_": pset["node_result"] + pset["c"]}


if __name__ == "__main__":
    params = ps.pgrid(ps.plist("a", [1, 2]), ps.plist("b", [10, 20]))
    df_nodes = ps.run(nodes, params, calc_dir=CALC_DIR, database_basename="nodes.pk")
    ps.df_print(df_nodes, cols=["a", "b", "node_result_"])

    node_params = ps.df_extract_params(df_nodes, py_types=True)
    node_results = ps.plist("node_result", df_nodes.node_result_.tolist())
    params = ps.pgrid(zip(node_params, node_results, strict=True), ps.plist("c", [100, 200]))
    df_leaves = ps.run(leaves, params, calc_dir=CALC_DIR, database_basename="leaves.pk")
    ps.df_print(df_leaves, cols=["a", "b", "c", "node_result", "leaf_result_"])
