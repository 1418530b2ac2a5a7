"""Example payloads for the OpenAPI document (one place, so schemas and routes stay short)."""

from __future__ import annotations

from typing import Any

#: an example payload: any JSON object (the OpenAPI document copies it as it is)
Example = dict[str, Any]

JOB_ID = "3f2a9c1e5b7d8a40"

JOB_CREATE: Example = {
    "task": "digits-cnn",
    "optimizer": "fsgdm",
    "n_trials": 40,
    "sampler": "tpe",
    "pruner": "median",
    "seeds": [0, 1],
    "epochs": 10,
    "sampler_seed": 0,
    "space": {
        "reparametrization": "fsgdm-K-c",
        "params": {
            "K": {"type": "float", "low": 3, "high": 300, "log": True},
            "c_scaling": {"type": "float", "low": 0.005, "high": 1.0, "log": True},
            "lr": {"type": "fixed", "value": 0.01},
        },
    },
}
JOB_CREATE_MINIMAL: Example = {"task": "noisy-quadratic", "optimizer": "lion", "n_trials": 20}

JOB: Example = {
    "id": JOB_ID,
    "status": "running",
    "task": "digits-cnn",
    "optimizer": "fsgdm",
    "space": {"optimizer": "fsgdm", "reparametrization": "fsgdm-K-c", "params": JOB_CREATE["space"]["params"]},
    "sampler": "tpe",
    "sampler_seed": 0,
    "pruner": "median",
    "n_trials": 40,
    "seeds": [0, 1],
    "epochs": 10,
    "study_name": f"ze-{JOB_ID}",
    "owner": "a1b2c3d4e5f6",
    "error": None,
    "created_at": "2025-01-31T12:00:00+00:00",
    "updated_at": "2025-01-31T12:03:10+00:00",
    "links": {
        "self": f"/api/v1/jobs/{JOB_ID}",
        "trials": f"/api/v1/jobs/{JOB_ID}/trials",
        "export": f"/api/v1/jobs/{JOB_ID}/export",
        "cancel": f"/api/v1/jobs/{JOB_ID}/cancel",
    },
}
PROGRESS: Example = {
    "claims": {"done": 12, "running": 2},
    "outcomes": {"complete": 11, "pruned": 1},
    "finished": 12,
    "running": 2,
    "best_value": 0.9722,
    "best_config": {
        "lr": 0.01,
        "c_scaling": 0.031,
        "v_coefficient": 0.94,
        "weight_decay": 0.0005,
        "sigma": 460,
        "n_stages": 10,
    },
    "eta_seconds": 310.5,
}
JOB_DETAIL: Example = {**JOB, "progress": PROGRESS}
JOB_PAGE: Example = {"items": [JOB], "total": 1, "limit": 50, "offset": 0}

TRIAL: Example = {
    "number": 7,
    "state": "COMPLETE",
    "value": 0.9722,
    "params": {"K": 31.2, "c_scaling": 0.031},
    "config": PROGRESS["best_config"],
    "outcome": "complete",
    "reason": None,
    "seed_values": [0.9694, 0.975],
    "value_std": 0.0039,
    "environment": {
        "device": "cuda:0",
        "device_name": "NVIDIA H100 80GB HBM3",
        "cudnn": 91002,
        "host": "gpu-node-3",
        "python": "3.11.9",
        "platform": "Linux-6.8.0-x86_64-with-glibc2.39",
        "torch": "2.13.0+cu128",
        "cuda": "12.8",
    },
    "datetime_start": "2025-01-31T12:01:00",
    "datetime_complete": "2025-01-31T12:01:41",
}
TRIAL_PAGE: Example = {"items": [TRIAL], "limit": 100, "offset": 0, "has_more": False}
EXPORT_CSV = (
    "job_id,task,optimizer,epochs,seeds,number,state,outcome,value,value_std,seed_values,reason,datetime_start,"
    "datetime_complete,device,K,c_scaling,lr,v_coefficient\n"
    f"{JOB_ID},digits-cnn,fsgdm,10,0;1,0,COMPLETE,complete,0.95,0.002,0.948;0.952,,2025-01-31T12:00:01,"
    "2025-01-31T12:00:40,cuda:0,32.61666666666667,0.03,0.01,0.95\n"
)
EXPORT_JSON: Example = {
    "job": JOB_ID,
    "task": "digits-cnn",
    "optimizer": "fsgdm",
    "epochs": 10,
    "seeds": [0, 1],
    "trials": [TRIAL],
}

TASK: Example = {
    "name": "digits-cnn",
    "description": "A small CNN on scikit-learn's 8x8 digits.",
    "metric": "val_accuracy",
    "direction": "maximize",
    "default_epochs": 10,
    "steps_per_epoch": 46,
    "dataset": "sklearn digits (1797 images)",
    "model": "2-layer CNN",
    "source": "builtin",
    "kind": "builtin",
    "verifiable": True,
}
OPTIMIZER: Example = {
    "name": "lion",
    "class": "optimizers.lion.Lion",
    "description": "Lion (single-timescale form).",
    "family": "sign",
    "reference": "Chen et al. 2023",
    "hyperparameters": [
        {
            "name": "lr",
            "type": "float",
            "default": 0.0001,
            "description": "learning rate",
            "domain": "a float in (0, inf)",
            "nullable": False,
            "low": 0.0,
            "high": None,
            "low_open": True,
            "high_open": False,
            "log": True,
        }
    ],
    "default_space": {
        "optimizer": "lion",
        "reparametrization": None,
        "params": {"lr": {"type": "float", "low": 1e-05, "high": 0.01, "log": True}},
    },
    "contribution_required": ["lr", "beta1", "beta2"],
    "natural_axes": ["lr", "beta1"],
}

CONTRIBUTION_CREATE: Example = {
    "task": "digits-cnn",
    "optimizer": "fsgdm",
    "value": 0.9711,
    "config": {"c_scaling": 0.033, "v_coefficient": 0.95, "lr": 0.01, "weight_decay": 0.0005},
    "curve": [0.81, 0.9, 0.93, 0.95, 0.96, 0.965, 0.968, 0.97, 0.9705, 0.9711],
    "budget": {"epochs": 10, "steps": 460},
    "seeds": [0, 1, 2],
    "hardware": "1x CPU, 2 cores",
    "software": "torch 2.13, zone-explorer 0.1",
    "source": {"doi": "10.48550/arXiv.2411.19671", "notes": "Table 3"},
}
CONTRIBUTION_NEW_TASK: Example = {
    "task": {
        "name": "cifar10-resnet18",
        "dataset": "CIFAR-10 (50k/10k)",
        "model": "ResNet-18",
        "metric": "test_accuracy",
        "direction": "maximize",
        "description": "Standard augmentation, batch 128.",
    },
    "optimizer": "fsgdm",
    "value": 0.9531,
    "config": {"c_scaling": 0.033, "v_coefficient": 1.0, "lr": 0.1, "weight_decay": 0.0005},
    "budget": {"epochs": 300},
    "seeds": [0],
    "source": {"url": "https://github.com/yinleung/FSGDM"},
}
CONTRIBUTION: Example = {
    "id": "9c4e2b7a1d3f5e60",
    "status": "active",
    "origin": "verified",
    "task": "digits-cnn",
    "optimizer": "fsgdm",
    "metric": "val_accuracy",
    "direction": "maximize",
    "config": {
        "lr": 0.01,
        "weight_decay": 0.0005,
        "c_scaling": 0.033,
        "v_coefficient": 0.95,
        "n_stages": 10,
        "sigma": 460,
    },
    "given": ["c_scaling", "v_coefficient", "lr", "weight_decay"],
    "value": 0.9711,
    "curve": CONTRIBUTION_CREATE["curve"],
    "budget": {"epochs": 10, "steps": 460},
    "seeds": [0, 1, 2],
    "zone_budget": {
        "key": "epochs=10;seeds=3",
        "label": "10 epochs x 3 seeds",
        "epochs": 10,
        "steps": None,
        "seeds": 3,
    },
    "hardware": "1x CPU, 2 cores",
    "software": "torch 2.13, zone-explorer 0.1",
    "source": {"doi": "10.48550/arXiv.2411.19671", "notes": "Table 3"},
    "owner": "a1b2c3d4e5f6",
    "verification": {
        "job_id": JOB_ID,
        "verdict": "verified",
        "measured_value": 0.9694,
        "detail": "rerun measured 0.9694 against the claimed 0.9711: |difference| 0.0017 <= tolerance 0.0486",
    },
    "created_at": "2025-01-31T12:00:00+00:00",
    "updated_at": "2025-01-31T12:20:00+00:00",
}
CONTRIBUTION_LIST: Example = {"items": [CONTRIBUTION], "count": 1}
CONTRIBUTION_PAGE: Example = {"items": [CONTRIBUTION], "total": 1, "limit": 50, "offset": 0}
CSV_UPLOAD = (
    "task,optimizer,value,epochs,seeds,source_doi,config.c_scaling,config.v_coefficient,config.lr,"
    "config.weight_decay\n"
    "digits-cnn,fsgdm,0.9711,10,0;1;2,10.48550/arXiv.2411.19671,0.033,0.95,0.01,0.0005\n"
)

#: the zone on the model (a map of 3 x 3 nodes here; 28 x 28 in answers): digits-cnn, FSGDM at lr 0.01
MODEL_ZONE: Example = {
    "zone": {
        "delta": 0.01,
        "delta_source": "default",
        "x": "c_scaling",
        "y": "v_coefficient",
        "x_log": True,
        "y_log": True,
        "membership": {
            "x": [0.005, 0.1, 2.0],
            "y": [0.05, 1.58, 50.0],
            "probability": [[0.0, 0.0, 0.0], [0.93, 0.01, 0.0], [0.0, 0.34, 0.0]],
        },
        "outline": [
            {
                "exterior": [[0.005, 0.9], [0.005, 2.6], [0.02, 10.0], [0.1, 47.0], [0.16, 50.0], [0.09, 16.0]],
                "holes": [],
            }
        ],
        "core": [{"exterior": [[0.01, 2.2], [0.03, 7.9], [0.05, 12.5], [0.02, 4.6]], "holes": []}],
        "volume_fraction": {"estimate": 0.12, "interval": [0.08, 0.17], "confidence": 0.95},
        "hit_chance": [
            {"trials": 1, "probability": 0.12},
            {"trials": 10, "probability": 0.721},
            {"trials": 20, "probability": 0.922},
            {"trials": 50, "probability": 0.998},
        ],
        "best": {"params": {"c_scaling": 0.03, "v_coefficient": 9.1}, "value": 0.9741, "interval": [0.9712, 0.9768]},
        "slice": {},
        "model": {
            "kind": "gaussian_process",
            "kernel": "1.1**2 * Matern(length_scale=[0.9, 1.4, 0.21], nu=2.5) + white noise",
            "axes": ["c_scaling", "v_coefficient", "K"],
            "n_fit": 241,
            "aggregated": False,
            "warp": "w = -log(1.0041 - goodness)",
            "noise_std": 0.031,
        },
    },
    "k": {
        "status": "ok",
        "estimate": 310.0,
        "interval": [250.0, 380.0],
        "confidence": 0.95,
        "lr": 0.01,
        "lr_times_k": {"estimate": 3.1, "interval": [2.5, 3.8]},
        "reference": {
            "k": 30.992,
            "lr": 0.1,
            "lr_times_k": 3.0992,
            "source": "FSGDM README (Li et al., ICLR 2025, arXiv:2411.19671): 30.992/v ≈ 1 + 1/c for CNNs",
        },
        "ridge": {
            "c": [0.01, 0.05, 0.2, 1.0],
            "k": [290.0, 305.0, 318.0, 335.0],
            "lower": [220.0, 262.0, 270.0, 260.0],
            "upper": [370.0, 352.0, 371.0, 420.0],
            "tilt": {"estimate": 0.03, "interval": [-0.02, 0.08]},
        },
    },
    "diagnostics": {
        "level_set": {
            "explained": {"K": 0.83, "c_scaling": 0.06, "v_coefficient": 0.41},
            "method": "leave-one-out R^2 of a 1-D Gaussian kernel smoother of the modelled (warped) metric on each log "
            "axis, over points uniform in the searched box",
        },
        "noise": {"median_seed_std": 0.0021, "model_noise_std": 0.0018},
        "n_diverged": 7,
        "n_used": 241,
        "n_far_worse": 0,
    },
    "warnings": [
        {
            "code": "zone_on_search_boundary",
            "message": "the modelled best lies on the edge of the searched space at c_scaling low (0.00503, "
            "bound 0.005): the zone may continue outside it; widen the range",
        }
    ],
}
ZONE_ANALYSIS: Example = {
    "zone_map": {
        "x": "c_scaling",
        "y": "v_coefficient",
        "x_log": True,
        "y_log": True,
        "x_grid": [0.005, 2.0],
        "y_grid": [0.05, 50.0],
        "surface": [[0.93, None], [0.96, 0.91]],
        "zone_mask": [[False, False], [True, False]],
        "threshold": 0.96,
        "outline": [],
        "points": {
            "x": [0.03],
            "y": [0.95],
            "value": [0.9711],
            "origin": ["verified"],
            "id": ["contribution/9c4e2b7a1d3f5e60"],
            "in_zone": [True],
        },
    },
    "best_configs": [
        {
            "rank": 1,
            "id": f"{JOB_ID}/7",
            "origin": "explored",
            "value": 0.9722,
            "params": {"c_scaling": 0.031, "v_coefficient": 0.94},
            "derived": {"K": 31.26},
            "config": PROGRESS["best_config"],
        }
    ],
    "marginals": {},
    "importance": {"v_coefficient": 0.61, "c_scaling": 0.39},
    "importance_evaluator": "ped-anova",
    **MODEL_ZONE,
    "tolerance": {"mode": "top_q", "value": 0.1},
    "q": 0.1,
    "direction": "maximize",
    "n_trials": 241,
}
#: which results a zone shows: the budget, the filters, the context and the disputed results left out
ZONE_SELECTION: Example = {
    "budget": {"key": "epochs=10;seeds=1", "label": "10 epochs x 1 seed", "epochs": 10, "steps": None, "seeds": 1},
    "budgets": [
        {
            "key": "epochs=10;seeds=1",
            "label": "10 epochs x 1 seed",
            "epochs": 10,
            "steps": None,
            "seeds": 1,
            "count": 241,
        },
        {"key": "epochs=5;seeds=2", "label": "5 epochs x 2 seeds", "epochs": 5, "steps": None, "seeds": 2, "count": 30},
    ],
    "filters": {"job": None, "origin": ["contributed", "explored", "verified"], "include_disputed": False},
    "context": {"sigma": 2200, "n_stages": 10},
    "disputed": [],
}
ZONE: Example = {
    **ZONE_SELECTION,
    "task": "digits-cnn",
    "optimizer": "fsgdm",
    "metric": "val_accuracy",
    "direction": "maximize",
    "x": "c_scaling",
    "y": "v_coefficient",
    "reference_K": 30.992,
    "counts": {"explored": 240, "contributed": 0, "verified": 1, "disputed": 0},
    "jobs": [JOB_ID],
    "samplers": {"zone": 240},
    "analysis": ZONE_ANALYSIS,
}
ZONE_SUMMARY: Example = {
    **ZONE_SELECTION,
    "task": "digits-cnn",
    "optimizer": "fsgdm",
    "metric": "val_accuracy",
    "direction": "maximize",
    "counts": ZONE["counts"],
    "jobs": [JOB_ID],
    "samplers": {"zone": 240},
    "n_results": 241,
    "tolerance": {"mode": "top_q", "value": 0.1},
    "q": 0.1,
    "best_configs": ZONE_ANALYSIS["best_configs"],
    "importance": ZONE_ANALYSIS["importance"],
    "importance_evaluator": "ped-anova",
    "zone_ranges": {"c_scaling": [0.012, 0.09], "v_coefficient": [0.4, 2.1]},
    **MODEL_ZONE,
}


def ok(
    example: Any, status: int = 200, description: str = "Success", model: Any = None
) -> dict[int | str, dict[str, Any]]:
    """A ``responses`` entry with an example (and a model, for a status other than the route's own)."""
    entry: dict[str, Any] = {"description": description, "content": {"application/json": {"example": example}}}
    if model is not None:
        entry["model"] = model
    return {status: entry}


def body(**examples: Any) -> dict[str, dict[str, Any]]:
    """``openapi_examples`` for a request body: name -> value."""
    return {name: {"summary": name.replace("_", " "), "value": value} for name, value in examples.items()}
