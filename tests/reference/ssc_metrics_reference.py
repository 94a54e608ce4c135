"""Independent NumPy reference of VoxFormer's SSCMetrics (spec §5.3–§5.4), written from the specification, not
from the C++ of this repository.

It restates the original's formulation: per frame (`add_batch`) the voxels with ground truth 255 are masked out
(their predictions set to 0 first), completion counts on the binary occupied/empty volumes and per-class counts are
taken with `np.where(...)` sizes, both summed over the dataset; `get_stats` turns the sums into precision, recall,
IoU (0 while TP = 0), per-class IoU = TP/(TP + FP + FN + 1e-5) and mIoU = mean over classes 1..C−1.
`crop_to_range` sets the voxels outside SemanticKITTI's evaluation ranges to 255 with the spec's literal indices on
the 256×256×32 grid. `hashed_volumes` is the real-size test case, built the same way by the C++ test.
"""
import numpy as np

IGNORE = 255


class SSCMetrics:
    def __init__(self, n_classes=20):
        self.n_classes = n_classes
        self.reset()

    def reset(self):
        self.completion_tp = 0
        self.completion_fp = 0
        self.completion_fn = 0
        self.tps = np.zeros(self.n_classes, dtype=np.int64)
        self.fps = np.zeros(self.n_classes, dtype=np.int64)
        self.fns = np.zeros(self.n_classes, dtype=np.int64)
        self.count = 0

    def add_batch(self, y_pred, y_true):
        """y_pred, y_true: (B, X, Y, Z) or (X, Y, Z) integer volumes; y_true 255 = not evaluated."""
        y_pred = np.asarray(y_pred).reshape((-1,) + np.shape(y_true)[-3:])
        y_true = np.asarray(y_true).reshape(y_pred.shape)
        self.count += 1
        mask = y_true != IGNORE
        tp, fp, fn = self.get_score_completion(y_pred, y_true, mask)
        self.completion_tp += tp
        self.completion_fp += fp
        self.completion_fn += fn
        tp_sum, fp_sum, fn_sum = self.get_score_semantic_and_completion(y_pred, y_true, mask)
        self.tps += tp_sum
        self.fps += fp_sum
        self.fns += fn_sum

    @staticmethod
    def get_score_completion(predict, target, nonempty):
        predict = np.copy(predict).astype(np.int64)
        target = np.copy(target).astype(np.int64)
        batch = predict.shape[0]
        predict[target == IGNORE] = 0
        target[target == IGNORE] = 0
        target = target.reshape(batch, -1)
        predict = predict.reshape(batch, -1)
        b_pred = np.zeros(predict.shape)
        b_true = np.zeros(target.shape)
        b_pred[predict > 0] = 1
        b_true[target > 0] = 1
        tp_sum, fp_sum, fn_sum = 0, 0, 0
        for idx in range(batch):
            keep = nonempty[idx].reshape(-1)
            y_true = b_true[idx][keep]
            y_pred = b_pred[idx][keep]
            tp_sum += np.array(np.where(np.logical_and(y_true == 1, y_pred == 1))).size
            fp_sum += np.array(np.where(np.logical_and(y_true != 1, y_pred == 1))).size
            fn_sum += np.array(np.where(np.logical_and(y_true == 1, y_pred != 1))).size
        return tp_sum, fp_sum, fn_sum

    def get_score_semantic_and_completion(self, predict, target, nonempty):
        predict = np.copy(predict).astype(np.int64)
        target = np.copy(target).astype(np.int64)
        batch = predict.shape[0]
        predict[target == IGNORE] = 0
        target = target.reshape(batch, -1)
        predict = predict.reshape(batch, -1)
        tp_sum = np.zeros(self.n_classes, dtype=np.int64)
        fp_sum = np.zeros(self.n_classes, dtype=np.int64)
        fn_sum = np.zeros(self.n_classes, dtype=np.int64)
        for idx in range(batch):
            keep = nonempty[idx].reshape(-1)
            y_true = target[idx][keep]
            y_pred = predict[idx][keep]
            for j in range(self.n_classes):
                tp_sum[j] += np.array(np.where(np.logical_and(y_true == j, y_pred == j))).size
                fp_sum[j] += np.array(np.where(np.logical_and(y_true != j, y_pred == j))).size
                fn_sum[j] += np.array(np.where(np.logical_and(y_true == j, y_pred != j))).size
        return tp_sum, fp_sum, fn_sum

    def get_stats(self):
        if self.completion_tp != 0:
            precision = self.completion_tp / (self.completion_tp + self.completion_fp)
            recall = self.completion_tp / (self.completion_tp + self.completion_fn)
            iou = self.completion_tp / (self.completion_tp + self.completion_fp + self.completion_fn)
        else:
            precision, recall, iou = 0.0, 0.0, 0.0
        iou_ssc = self.tps / (self.tps + self.fps + self.fns + 1e-5)
        return {
            "precision": float(precision),
            "recall": float(recall),
            "iou": float(iou),
            "iou_ssc": [float(v) for v in iou_ssc],
            "iou_ssc_mean": float(np.mean(iou_ssc[1:])),
        }

    def as_expected(self):
        """The sums and scores in the fixtures' JSON layout (tests/fixtures/metrics/*/expected.json)."""
        stats = self.get_stats()
        return {
            "classes": self.n_classes,
            "frames": self.count,
            "completion": {"tp": int(self.completion_tp), "fp": int(self.completion_fp), "fn": int(self.completion_fn)},
            "tp": [int(v) for v in self.tps],
            "fp": [int(v) for v in self.fps],
            "fn": [int(v) for v in self.fns],
            "precision": stats["precision"],
            "recall": stats["recall"],
            "iou": stats["iou"],
            "class_iou": stats["iou_ssc"],
            "miou": stats["iou_ssc_mean"],
        }


def crop_to_range(target, eval_range):
    """Spec §5.3 on a 256×256×32 target: 51.2 keeps all; 25.6 sets x ≥ 128, y < 64, y ≥ 192 to 255; 12.8 sets
    x ≥ 64, y < 96, y ≥ 160 to 255."""
    target = np.array(target, copy=True)
    assert target.shape[-3:] == (256, 256, 32), "the evaluation ranges are defined on the 256x256x32 grid"
    if eval_range == 25.6:
        target[..., 128:, :, :] = IGNORE
        target[..., :, :64, :] = IGNORE
        target[..., :, 192:, :] = IGNORE
    elif eval_range == 12.8:
        target[..., 64:, :, :] = IGNORE
        target[..., :, :96, :] = IGNORE
        target[..., :, 160:, :] = IGNORE
    elif eval_range != 51.2:
        raise ValueError(f"no evaluation range {eval_range}")
    return target


def hashed_volumes(shape, seed):
    """Deterministic (prediction, ground truth) uint8 volumes from a 32-bit hash of the flat voxel index k:
    h = mix(k·2654435761 + seed); ground truth (h >> 8) mod 23, where 20..22 become 255 (ignored); prediction
    the ground truth where bit 4 of h is set and it is a class, else (h >> 16) mod 20."""
    mask32 = np.uint64(0xFFFFFFFF)
    k = np.arange(int(np.prod(shape)), dtype=np.uint64)
    h = (k * np.uint64(2654435761) + np.uint64(seed)) & mask32
    h ^= h >> np.uint64(15)
    h = (h * np.uint64(2246822519)) & mask32
    h ^= h >> np.uint64(13)
    truth = ((h >> np.uint64(8)) % np.uint64(23)).astype(np.int64)
    truth[truth >= 20] = IGNORE
    other = ((h >> np.uint64(16)) % np.uint64(20)).astype(np.int64)
    copy_truth = ((h >> np.uint64(4)) & np.uint64(1)).astype(bool) & (truth != IGNORE)
    prediction = np.where(copy_truth, truth, other)
    return prediction.astype(np.uint8).reshape(shape), truth.astype(np.uint8).reshape(shape)
