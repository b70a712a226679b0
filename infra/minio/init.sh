#!/bin/sh
# One-shot MinIO set-up for the Picture Time compose stack (the `minio-init` service, image
# minio/mc). Idempotent: safe to run on every `docker compose up`.
#
#  1. creates the four buckets (the gateway also creates them and applies the lifecycle rules at
#     start-up; creating them here lets the service users have no bucket-creation rights to spare);
#  2. creates one S3 user per service, each with a least-privilege policy:
#       gateway  read/write/delete/tag objects in every bucket, bucket lifecycle configuration
#       aligner  read  `originals`, write `frames`
#       archive  read  `frames`, `media`, `timelapse`
#
# Environment (from deploy/.env): MINIO_ROOT_USER, MINIO_ROOT_PASSWORD, PT_BUCKETS__ORIGINALS,
# PT_BUCKETS__FRAMES, PT_BUCKETS__MEDIA, PT_BUCKETS__TIMELAPSE, and for each service
# PT_<SERVICE>_S3_ACCESS_KEY / PT_<SERVICE>_S3_SECRET_KEY.
set -eu

MINIO_URL="${MINIO_URL:-http://minio:9000}"
ORIGINALS="${PT_BUCKETS__ORIGINALS:-originals}"
FRAMES="${PT_BUCKETS__FRAMES:-frames}"
MEDIA="${PT_BUCKETS__MEDIA:-media}"
TIMELAPSE="${PT_BUCKETS__TIMELAPSE:-timelapse}"
POLICY_DIR="${POLICY_DIR:-/tmp/pt-policies}"

: "${MINIO_ROOT_USER:?}" "${MINIO_ROOT_PASSWORD:?}"
: "${PT_GATEWAY_S3_ACCESS_KEY:?}" "${PT_GATEWAY_S3_SECRET_KEY:?}"
: "${PT_ALIGNER_S3_ACCESS_KEY:?}" "${PT_ALIGNER_S3_SECRET_KEY:?}"
: "${PT_ARCHIVE_S3_ACCESS_KEY:?}" "${PT_ARCHIVE_S3_SECRET_KEY:?}"
mkdir -p "$POLICY_DIR"

bucket_arns() {  # bucket_arns SUFFIX BUCKET... -> "arn:aws:s3:::b1SUFFIX", "arn:aws:s3:::b2SUFFIX"
    suffix=$1
    shift
    sep=""
    for b in "$@"; do
        printf '%s"arn:aws:s3:::%s%s"' "$sep" "$b" "$suffix"
        sep=", "
    done
}

cat >"$POLICY_DIR/pt-gateway.json" <<JSON
{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Effect": "Allow",
      "Action": [
        "s3:CreateBucket", "s3:ListBucket", "s3:GetBucketLocation", "s3:ListBucketMultipartUploads",
        "s3:GetLifecycleConfiguration", "s3:PutLifecycleConfiguration"
      ],
      "Resource": [$(bucket_arns "" "$ORIGINALS" "$FRAMES" "$MEDIA" "$TIMELAPSE")]
    },
    {
      "Effect": "Allow",
      "Action": [
        "s3:GetObject", "s3:PutObject", "s3:DeleteObject",
        "s3:GetObjectTagging", "s3:PutObjectTagging", "s3:DeleteObjectTagging",
        "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"
      ],
      "Resource": [$(bucket_arns "/*" "$ORIGINALS" "$FRAMES" "$MEDIA" "$TIMELAPSE")]
    }
  ]
}
JSON

cat >"$POLICY_DIR/pt-aligner.json" <<JSON
{
  "Version": "2012-10-17",
  "Statement": [
    {"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": [$(bucket_arns "/*" "$ORIGINALS")]},
    {"Effect": "Allow", "Action": ["s3:PutObject"], "Resource": [$(bucket_arns "/*" "$FRAMES")]}
  ]
}
JSON

cat >"$POLICY_DIR/pt-archive.json" <<JSON
{
  "Version": "2012-10-17",
  "Statement": [
    {"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": [$(bucket_arns "/*" "$FRAMES" "$MEDIA" "$TIMELAPSE")]}
  ]
}
JSON

# The server may still be starting even after its healthcheck: retry the alias for a minute.
tries=0
until mc alias set pt "$MINIO_URL" "$MINIO_ROOT_USER" "$MINIO_ROOT_PASSWORD" >/dev/null; do
    tries=$((tries + 1))
    [ "$tries" -lt 30 ] || { echo "minio-init: MinIO at $MINIO_URL did not answer" >&2; exit 1; }
    sleep 2
done

for bucket in "$ORIGINALS" "$FRAMES" "$MEDIA" "$TIMELAPSE"; do
    mc mb --ignore-existing "pt/$bucket"
done

setup_user() {  # setup_user POLICY ACCESS_KEY SECRET_KEY
    policy=$1
    access=$2
    secret=$3
    mc admin policy create pt "$policy" "$POLICY_DIR/$policy.json"
    mc admin user add pt "$access" "$secret"
    # `attach` refuses a policy that is already attached; that is the state we want.
    if ! mc admin policy attach pt "$policy" --user "$access" 2>/dev/null; then
        # (a shell pattern, not grep: the minio/mc image is minimal)
        case "$(mc admin user info pt "$access")" in
            *"$policy"*) ;;
            *) echo "minio-init: could not attach $policy to $access" >&2; exit 1 ;;
        esac
    fi
    echo "minio-init: user $access has policy $policy"
}

setup_user pt-gateway "$PT_GATEWAY_S3_ACCESS_KEY" "$PT_GATEWAY_S3_SECRET_KEY"
setup_user pt-aligner "$PT_ALIGNER_S3_ACCESS_KEY" "$PT_ALIGNER_S3_SECRET_KEY"
setup_user pt-archive "$PT_ARCHIVE_S3_ACCESS_KEY" "$PT_ARCHIVE_S3_SECRET_KEY"
echo "minio-init: done"
