package blob

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

// S3 keeps blobs in an S3 bucket (AWS, MinIO, SeaweedFS, Ceph...).
type S3 struct {
	client *s3.Client
	bucket string
	prefix string
	tmpDir string // where non-seekable bodies are spooled
}

// NewS3 opens s3://bucket/prefix?endpoint=URL&region=R. Credentials come
// from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, never from the URL,
// which ends up in logs and process lists.
func NewS3(_ context.Context, u *url.URL, tmpDir string) (*S3, error) {
	if u.Host == "" {
		return nil, fmt.Errorf("blob: s3 URL %q has no bucket", u.Redacted())
	}
	q := u.Query()
	region := q.Get("region")
	if region == "" {
		region = "us-east-1"
	}
	id, secret := os.Getenv("AWS_ACCESS_KEY_ID"), os.Getenv("AWS_SECRET_ACCESS_KEY")
	if id == "" || secret == "" {
		return nil, errors.New("blob: s3 needs AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the environment")
	}
	creds := aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
		return aws.Credentials{AccessKeyID: id, SecretAccessKey: secret, Source: "environment"}, nil
	})
	client := s3.New(s3.Options{
		Region:      region,
		Credentials: aws.NewCredentialsCache(creds),
		HTTPClient:  httpClient(),
		// Checksums only where S3 requires them: servers other than AWS
		// do not all speak the streaming trailer that the default adds.
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	}, func(o *s3.Options) {
		if ep := q.Get("endpoint"); ep != "" {
			o.BaseEndpoint = aws.String(ep)
			// A self-hosted server names buckets in the path.
			o.UsePathStyle = true
		}
	})
	return &S3{client: client, bucket: u.Host, prefix: strings.Trim(u.Path, "/"), tmpDir: tmpDir}, nil
}

// s3Conns is how many idle connections to the S3 endpoint are kept. The
// SDK keeps 10: a server storing segments of hundreds of boxes makes many
// more requests at once (tusd's S3 store alone makes about fifteen per
// segment), and each one past the tenth opened a new TCP (and TLS)
// connection and closed it after one request, which cost more than the
// request.
const s3Conns = 256

func httpClient() *awshttp.BuildableClient {
	return awshttp.NewBuildableClient().WithTransportOptions(func(t *http.Transport) {
		t.MaxIdleConns = s3Conns
		t.MaxIdleConnsPerHost = s3Conns
	})
}

func (s *S3) key(k string) string {
	if s.prefix == "" {
		return k
	}
	return s.prefix + "/" + k
}

// Put uploads with one PutObject, which S3 makes visible only whole. The
// request is signed over its body, so a body that cannot seek is spooled to
// a temp file first.
func (s *S3) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	if err := checkKey(key); err != nil {
		return err
	}
	body, ok := r.(io.ReadSeeker)
	if ok {
		// The SDK rewinds the body to sign it and to retry; that is only
		// right for a body that starts at its beginning.
		if cur, err := body.Seek(0, io.SeekCurrent); err != nil || cur != 0 {
			ok = false
		}
	}
	if !ok {
		tmp, err := os.CreateTemp(s.tmpDir, ".s3spool-*")
		if err != nil {
			return fmt.Errorf("blob: put %s: %w", key, err)
		}
		defer os.Remove(tmp.Name())
		defer tmp.Close()
		if _, err := io.Copy(tmp, io.LimitReader(ctxReader{ctx, r}, size+1)); err != nil {
			return fmt.Errorf("blob: put %s: %w", key, err)
		}
		body = tmp
	}
	// The length is checked here, not left to the server: a short body
	// must fail before anything is sent.
	end, err := body.Seek(0, io.SeekEnd)
	if err != nil {
		return fmt.Errorf("blob: put %s: %w", key, err)
	}
	if end != size {
		return fmt.Errorf("blob: put %s: %d bytes, want %d", key, end, size)
	}
	if _, err := body.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("blob: put %s: %w", key, err)
	}
	_, err = s.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(s.bucket), Key: aws.String(s.key(key)), Body: body, ContentLength: aws.Int64(size),
	})
	if err != nil {
		return fmt.Errorf("blob: put %s: %w", key, err)
	}
	return nil
}

// Open reads a blob.
func (s *S3) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(s.key(key))})
	if err != nil {
		var nsk *types.NoSuchKey
		var api smithy.APIError
		if errors.As(err, &nsk) || (errors.As(err, &api) && api.ErrorCode() == "NotFound") {
			return nil, fmt.Errorf("blob: %s: %w", key, ErrNotFound)
		}
		return nil, fmt.Errorf("blob: open %s: %w", key, err)
	}
	return out.Body, nil
}

// Delete removes a blob (S3 answers success for an absent key).
func (s *S3) Delete(ctx context.Context, key string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	if _, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(s.key(key))}); err != nil {
		return fmt.Errorf("blob: delete %s: %w", key, err)
	}
	return nil
}

// List pages through ListObjectsV2 under the store's prefix; objects of
// others sharing the bucket (not keys) are left out.
func (s *S3) List(ctx context.Context, prefix string) ([]Info, error) {
	if err := checkPrefix(prefix); err != nil {
		return nil, err
	}
	full := prefix
	if s.prefix != "" {
		full = s.prefix + "/" + prefix
	}
	var out []Info
	pages := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{Bucket: aws.String(s.bucket), Prefix: aws.String(full)})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("blob: list %s: %w", prefix, err)
		}
		for _, o := range page.Contents {
			key := aws.ToString(o.Key)
			if s.prefix != "" {
				key = strings.TrimPrefix(key, s.prefix+"/")
			}
			if !ValidKey(key) || !strings.HasPrefix(key, prefix) {
				continue
			}
			out = append(out, Info{Key: key, Size: aws.ToInt64(o.Size), Modified: aws.ToTime(o.LastModified)})
		}
	}
	slices.SortFunc(out, func(a, b Info) int { return strings.Compare(a.Key, b.Key) })
	return out, nil
}

// Ping checks that the bucket is there and the credentials work.
func (s *S3) Ping(ctx context.Context) error {
	if _, err := s.client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(s.bucket)}); err != nil {
		return fmt.Errorf("blob: ping s3://%s: %w", s.bucket, err)
	}
	return nil
}

// Client, Bucket and ObjectKey let the uploads in progress (tusd's S3
// store) share this bucket, its credentials and its prefix.
func (s *S3) Client() *s3.Client { return s.client }

// Bucket is the bucket's name.
func (s *S3) Bucket() string { return s.bucket }

// ObjectKey is the object name of key under the store's prefix.
func (s *S3) ObjectKey(key string) string { return s.key(key) }
